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

/// What registering a sweep found under its name.
[<RequireQualifiedAccess>]
type Registration =
    | New
    | Unchanged
    /// The definition changed since the last registration: its trials stay, new ones are added.
    | Changed of previousHash: string

/// A sweep as the store holds it, with every definition ever registered under its name.
type StoredSweep =
    { Name: string
      DefinitionHash: string
      /// `Sweep.print` of the sweep and `Sweep.describe` of its base settings.
      Definition: string
      Notes: string
      CreatedUtc: DateTime
      /// (definition hash, first registered), oldest first; the last is the current definition.
      History: (string * DateTime) list }

/// One trial of a sweep as recorded. Final figures are None until the trial has finished.
type StoredTrial =
    { Key: string
      Configuration: int
      Seed: uint64
      /// `Sweep.describe` of the trial's settings.
      Settings: string
      /// (setting name, formatted value) for each setting the sweep varies.
      Values: (string * string) list
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
      History: EpochMetrics list }

/// A worker's hold on a running trial. Its writes count only while the token is the trial's
/// current claim: a worker presumed dead and replaced can no longer record anything.
type Claim =
    { Key: string
      Token: string
      /// 1 for a first run; more when the trial resumes after its worker died.
      Attempt: int
      /// The checkpoint (epoch, state) the trial resumes from, if it has one.
      Checkpoint: (int * byte[]) option
      /// The epoch to stop at (an adaptive search's rung), or None to train to the end.
      Until: int option }

/// How far a sweep's current trials have come.
type SweepCounts =
    { Pending: int
      Running: int
      /// Stopped at a rung, waiting for its decision.
      Paused: int
      Finished: int }

/// A re-run of a finished trial checked against its record.
type Verification =
    { Key: string
      VerifiedUtc: DateTime
      Identical: bool
      Detail: string }
