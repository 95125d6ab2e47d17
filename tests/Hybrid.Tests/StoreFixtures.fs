/// Sweeps, results and temporary stores for the run store's tests, built the way scripts build them.
module Hybrid.Tests.StoreFixtures

open System
open System.Diagnostics
open System.IO
open Expecto
open Microsoft.Data.Sqlite
open Hybrid
open Hybrid.Engine.Training

// ---- Data built the way scripts build it ----

let fractions: Fractions = { Train = 0.7; Validation = 0.15; Test = 0.15 }

let iris =
    lazy ({ Name = "iris"; Split = Dataset.iris () |> Dataset.split fractions 42UL }: Data)

let sweepOver (name: string) (widths: int list) : Sweep = {
    Sweep.create name iris.Value with
        Base = { Settings.defaults with Epochs = 3 }
        Space = [ M, ints widths; LearningRate, LogRange(1e-3, 1e-2) ]
        Strategy = Strategy.Grid 2
        Seeds = [ 1UL; UInt64.MaxValue ]
        Notes = "store tests <&>"
}

/// 2 widths × 2 learning rates × 2 seeds = 8 trials.
let small () = sweepOver "small" [ 4; 8 ]

let manifest = [ "git commit", "0123abc"; "dirty", "false"; "engine", Engine.version ]

/// Awkward numbers on purpose: thirds, π, a huge and a tiny value, so a lossy round trip shows.
let historyOf (trial: Trial) (epochs: int) = [
    for e in 1..epochs ->
        let k = float (e + trial.Configuration) + float (trial.Seed % 1000UL)

        EpochMetrics(
            e,
            1.0 / (3.0 * k),
            Math.PI / (7.0 + k),
            Nullable(1e300 / k),
            Nullable(5e-324 * float e),
            3e-3 * (0.9 ** float e)
        )
]

let resultOf (trial: Trial) (status: Status) : TrialResult =
    let k = float trial.Configuration + 1.0

    {
        Trial = trial
        Status = status
        Reason =
            (match status with
             | Completed
             | Pruned -> ""
             | Diverged -> "the loss turned non-finite in epoch 3"
             | Failed -> "out of memory")
        History = historyOf trial 3
        Stop =
            (match status with
             | Diverged -> StopReason.Diverged
             | _ -> StopReason.EarlyStopped)
        KeptEpoch = 2
        ValidationLoss = 1.0 / (3.0 * k)
        ValidationAccuracy =
            (match status with
             | Completed -> 0.9 + 1.0 / 97.0
             | _ -> nan)
        TestLoss = Math.E / k
        TestAccuracy = 2.0 / 3.0
        Seconds = 12.345678901234567 * k
    }

// ---- Comparisons by bits ----

let bits (x: float) = BitConverter.DoubleToInt64Bits x

let optionalBits (x: Nullable<float>) = if x.HasValue then Some(bits x.Value) else None

let epochBits (m: EpochMetrics) =
    m.Epoch,
    bits m.TrainLoss,
    bits m.TrainAccuracy,
    optionalBits m.ValidationLoss,
    optionalBits m.ValidationAccuracy,
    bits m.LearningRate

let expectStored (stored: StoredTrial) (result: TrialResult) =
    let trial = result.Trial
    Expect.equal stored.Key trial.Key "key"
    Expect.equal stored.Configuration trial.Configuration "configuration"
    Expect.equal stored.Seed trial.Seed "seed"
    Expect.equal stored.Settings trial.Settings "settings"
    Expect.equal stored.Values trial.Values "values"
    Expect.equal stored.State (TrialState.Finished result.Status) "state"
    Expect.equal stored.Reason result.Reason "reason"
    Expect.equal stored.Stop (Some result.Stop) "stop"
    Expect.equal stored.KeptEpoch (Some result.KeptEpoch) "kept epoch"

    let figures (t: StoredTrial) =
        [
            t.ValidationLoss
            t.ValidationAccuracy
            t.TestLoss
            t.TestAccuracy
            t.Seconds
        ]
        |> List.map (Option.map bits)

    let expected =
        [
            result.ValidationLoss
            result.ValidationAccuracy
            result.TestLoss
            result.TestAccuracy
            result.Seconds
        ]
        |> List.map (bits >> Some)

    Expect.equal (figures stored) expected "final figures, bit for bit"
    Expect.isSome stored.FinishedUtc "finished time"
    Expect.equal (stored.History |> List.map epochBits) (result.History |> List.map epochBits) "history, bit for bit"

// ---- Temporary stores, on either database ----

let withDir (body: string -> unit) = Common.withTempDirectory "hybrid-store-" body

/// An empty store: a SQLite file in a temporary folder, or a fresh PostgreSQL database.
let withStore (backend: Backend) (body: Store -> unit) =
    match backend with
    | Backend.Sqlite ->
        withDir (fun dir ->
            use store = Store.openAt (Path.Combine(dir, "runs.db"))
            body store)
    | Backend.Postgres ->
        Postgres.withDatabase (fun connectionString ->
            use store = Store.openPostgres connectionString
            body store)

/// A store holding the small sweep, registered, with its trials pending.
let withSweep backend (body: Store -> Sweep -> Trial list -> unit) =
    withStore backend (fun store ->
        let sweep = small ()
        let trials = Sweep.expand sweep
        Store.register store sweep manifest |> ignore
        Store.addTrials store sweep.Name trials
        body store sweep trials)

/// A connection beside the store's, pooled off so the file is closed when it is disposed.
let raw (file: string) =
    let connection =
        new SqliteConnection(SqliteConnectionStringBuilder(DataSource = file, Pooling = false).ConnectionString)

    connection.Open()
    connection

let scalar (connection: SqliteConnection) (sql: string) : string =
    use c = connection.CreateCommand()
    c.CommandText <- sql
    string (c.ExecuteScalar())

let stored (store: Store) (sweep: string) (key: string) = Store.results store sweep |> List.find (fun t -> t.Key = key)

// ---- Claims ----

let patient = TimeSpan.FromHours 1.0

/// The next claim of this process, which the test expects to exist.
let claim (store: Store) (sweep: Sweep) =
    match Store.claimNext store sweep.Name Worker.current patient with
    | Some claim -> claim
    | None -> failtest "expected a claimable trial"

/// Claims the next trial and finishes it with the given result, which must be for that trial.
let finishNext store sweep (result: TrialResult) =
    let claim = claim store sweep
    Expect.equal claim.Key result.Trial.Key "trials are claimed in the sweep's order"
    Expect.isTrue (Store.finish store claim result None) "finished under its claim"

let storeError action : StoreException = Common.raised action

/// A worker of another machine, whose process this one cannot see.
let elsewhere = "another-machine/4242/170000"

/// A safetensors-like blob; the store keeps models and checkpoints as opaque bytes.
let blob (length: int) (seed: int) = Array.init length (fun i -> byte ((i * 31 + seed) % 251))
