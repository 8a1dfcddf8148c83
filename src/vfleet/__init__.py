"""vfleet: a GitOps compiler for fleets of vCluster tenant clusters."""
