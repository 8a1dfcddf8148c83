"""Stage `apply`: one Pulumi stack per connected cluster.

The modules, from pure to thin:

- `decide`: which stacks run, in which wave, which are skipped, what a result means (pure);
- `records`: the state directory: per-run JSON records and what each stack last applied;
- `project`: Pulumi.yaml and `stacks/Pulumi.<cluster>.yaml`, written and verified;
- `gate`: policy (fail closed) and deletion guards, before any resource is registered;
- `orchestrate`: runs the decided stacks wave by wave, isolated, with an injected runner;
- `program`: what `stacks/__main__.py` runs (a bare `pulumi up -s <cluster>` is as safe as `vfleet apply`);
- `adapter`, `aliases`, `kubeconfig`: DesiredState -> pulumi_kubernetes resources;
- `engine`: the only module that calls the Pulumi engine (Automation API, LocalWorkspace);
- `adopt`: which desired objects already exist on a cluster (for `--adopt`).
"""
