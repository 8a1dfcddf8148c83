"""vfleet: a GitOps compiler for fleets of vCluster tenant clusters.

As a library: `vfleet.api` has one function per command (validate, compile, place, check, plan, apply,
drift, status, lifecycle, ...), each returning the command's result with its findings and exit code.
They are not re-exported here: `vfleet.compile`, `vfleet.place`, `vfleet.plan` and `vfleet.lifecycle`
are the stages those commands run, and a package attribute cannot be both.
"""
