"""vfleet: a GitOps compiler for fleets of vCluster tenant clusters.

As a library: `vfleet.api` has one function per command (validate, compile, place, check, plan,
drift, status), each returning the command's result with its findings and exit code.
"""
