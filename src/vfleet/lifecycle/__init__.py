"""vfleet lifecycle: sleep and wake on schedule and inactivity, auto-delete on expiry and inactivity —
carried out by vfleet, without a vCluster Platform (docs/lifecycle.md).

Runtime state (asleep / awake) is acted on directly and recorded on the cluster's objects; anything that
removes a tenant goes through Git as a proposed change, reviewed and guarded like any other deletion.

    schedule  cron in an IANA zone, DST decided explicitly
    decide    pure decisions over facts and a clock: sleep / wake / finish, due for deletion
    observe   a fixed number of list calls per cluster -> facts per tenant, and the activity definition
    act       the merge patches of a decision, sent in an order an interrupted run can finish
    propose   due deletions -> guards -> a commit on a branch (Git plumbing; the work tree is untouched)
    run       the stage: connect, observe, decide, act, propose -> Report
"""

from vfleet.lifecycle.run import Options, Report, lifecycle

__all__ = ["Options", "Report", "lifecycle"]
