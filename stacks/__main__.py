"""The Pulumi program of every stack of this fleet (stack name = connected cluster name).

`pulumi up -s <cluster>` and `vfleet apply` both run this; all the work is in `vfleet.apply.program`:
compile the fleet in this repository, fail closed on policy and deletion guards, declare the cluster's
resources with a provider built from its kubeconfig reference.
"""

from pathlib import Path

from vfleet.apply import program

program.main(Path(__file__).resolve().parent.parent)
