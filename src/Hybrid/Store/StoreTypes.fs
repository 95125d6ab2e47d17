namespace Hybrid

open System
open Hybrid.Engine.Training

/// Where a trial stands in the store.
[<RequireQualifiedAccess>]
type TrialState =
    | Pending
    | Running
    /// Stopped at its rung of an adaptive search until the rung's decision resumes or prunes it.
    | Paused
    | Finished of Status

[<RequireQualifiedAccess>]
module TrialState =

    /// The state's name as stored and reported: pending, running, paused, completed, diverged, failed or pruned.
    let name (state: TrialState) =
        match state with
        | TrialState.Pending -> "pending"
        | TrialState.Running -> "running"
        | TrialState.Paused -> "paused"
        | TrialState.Finished Completed -> "completed"
        | TrialState.Finished Diverged -> "diverged"
        | TrialState.Finished Failed -> "failed"
        | TrialState.Finished Pruned -> "pruned"

    /// Every state, in the order a report counts them.
    let all = [
        TrialState.Finished Completed
        TrialState.Finished Pruned
        TrialState.Finished Diverged
        TrialState.Finished Failed
        TrialState.Paused
        TrialState.Running
        TrialState.Pending
    ]

    /// The state a stored name stands for; None for a name `name` never gives.
    let ofName (text: string) = all |> List.tryFind (fun state -> name state = text)

/// What registering a sweep found under its name.
[<RequireQualifiedAccess>]
type Registration =
    | New
    | Unchanged
    /// The definition changed since the last registration: its trials stay, new ones are added.
    | Changed of previousHash: string

/// A sweep as the store holds it, with every definition ever registered under its name.
type StoredSweep = {
    Name: string
    DefinitionHash: string
    /// `Sweep.print` of the sweep and `Sweep.describe` of its base settings.
    Definition: string
    Notes: string
    CreatedUtc: DateTime
    /// (definition hash, first registered), oldest first; the last is the current definition.
    History: (string * DateTime) list
}

/// One trial of a sweep as recorded, read once from the store into typed values: every consumer
/// (report, verify, the best model, the progress line) takes this record, none re-reads the text.
/// Final figures are None until the trial has finished.
type StoredTrial = {
    Key: string
    Configuration: int
    Seed: uint64
    /// The settings the trial was run with, exactly (its seed included).
    Settings: Settings
    /// The settings the sweep varies, with the trial's values, in the space's order.
    Values: (Setting * Value) list
    State: TrialState
    /// Why a trial diverged or failed; empty otherwise.
    Reason: string
    Stop: StopReason option
    KeptEpoch: int option
    ValidationLoss: float option
    ValidationAccuracy: float option
    TestLoss: float option
    TestAccuracy: float option
    Seconds: float option
    StartedUtc: DateTime option
    FinishedUtc: DateTime option
    /// How many times a worker has claimed the trial: more than once when it was cut off and resumed.
    Attempts: int
    /// The worker that claimed it last (machine/process/start), None for a trial never claimed.
    Worker: string option
    /// The sweep definition under which the trial was last added: trials of an earlier definition
    /// that the current one no longer expands keep their older hash.
    DefinitionHash: string
    History: EpochMetrics list
}

[<RequireQualifiedAccess>]
module StoredTrial =

    /// What the ranking needs of a stored trial: its validation accuracy if it completed.
    let rankEntry (t: StoredTrial) : RankEntry option =
        match t.State, t.ValidationAccuracy with
        | TrialState.Finished Completed, Some accuracy ->
            Some { Configuration = t.Configuration; Seed = t.Seed; Validation = accuracy }
        | _ -> None

/// A worker's hold on a running trial. Its writes count only while the token is the trial's
/// current claim: a worker presumed dead and replaced can no longer record anything.
type Claim = {
    Key: string
    Token: string
    /// 1 for a first run; more when the trial resumes after its worker died.
    Attempt: int
    /// The checkpoint (epoch, state) the trial resumes from, if it has one.
    Checkpoint: (int * byte[]) option
    /// The epoch to stop at (an adaptive search's rung), or None to train to the end.
    Until: int option
}

/// How far a sweep's current trials have come.
type SweepCounts = {
    Pending: int
    Running: int
    /// Stopped at a rung, waiting for its decision.
    Paused: int
    Finished: int
}

/// A re-run of a finished trial checked against its record.
type Verification = { Key: string; VerifiedUtc: DateTime; Identical: bool; Detail: string }

/// A decision of an adaptive search as recorded: which batch proposed what, which rung promoted what.
type StoredDecision = {
    Batch: int
    /// The rung in its batch; −1 for the batch's proposal.
    Rung: int
    /// `Decision.describe` of it.
    Detail: string
}
