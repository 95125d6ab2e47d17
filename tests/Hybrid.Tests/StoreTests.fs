module Hybrid.Tests.StoreTests

open System
open System.Diagnostics
open System.IO
open Expecto
open Microsoft.Data.Sqlite
open Hybrid
open Hybrid.Engine.Training

// ---- Data built the way scripts build it ----

let private fractions: Fractions = { Train = 0.7; Validation = 0.15; Test = 0.15 }

let private iris = lazy ({ Name = "iris"; Split = Dataset.iris () |> Dataset.split fractions 42UL }: Data)

let private sweepOver (name: string) (widths: int list) : Sweep =
    { Name = name
      Data = iris.Value
      Base = { Settings.defaults with Epochs = 3 }
      Space = [ M, ints widths; LearningRate, LogRange(1e-3, 1e-2) ]
      Strategy = Strategy.Grid 2
      Seeds = [ 1UL; UInt64.MaxValue ]
      Only = []
      Notes = "store tests <&>" }

/// 2 widths × 2 learning rates × 2 seeds = 8 trials.
let private small () = sweepOver "small" [ 4; 8 ]

let private manifest = [ "git commit", "0123abc"; "dirty", "false"; "engine", Engine.version ]

/// Awkward numbers on purpose: thirds, π, a huge and a tiny value, so a lossy round trip shows.
let private historyOf (trial: Trial) (epochs: int) =
    [ for e in 1..epochs ->
          let k = float (e + trial.Configuration) + float (trial.Seed % 1000UL)
          EpochMetrics(e, 1.0 / (3.0 * k), Math.PI / (7.0 + k), Nullable(1e300 / k), Nullable(5e-324 * float e), 3e-3 * (0.9 ** float e)) ]

let private resultOf (trial: Trial) (status: Status) : TrialResult =
    let k = float trial.Configuration + 1.0
    { Trial = trial
      Status = status
      Reason = (match status with Completed -> "" | Diverged -> "the loss turned non-finite in epoch 3" | Failed -> "out of memory")
      History = historyOf trial 3
      Stop = (match status with Diverged -> StopReason.Diverged | _ -> StopReason.EarlyStopped)
      KeptEpoch = 2
      ValidationLoss = 1.0 / (3.0 * k)
      ValidationAccuracy = (match status with Completed -> 0.9 + 1.0 / 97.0 | _ -> nan)
      TestLoss = Math.E / k
      TestAccuracy = 2.0 / 3.0
      Seconds = 12.345678901234567 * k }

// ---- Comparisons by bits ----

let private bits (x: float) = BitConverter.DoubleToInt64Bits x

let private optionalBits (x: Nullable<float>) = if x.HasValue then Some(bits x.Value) else None

let private epochBits (m: EpochMetrics) =
    m.Epoch, bits m.TrainLoss, bits m.TrainAccuracy, optionalBits m.ValidationLoss, optionalBits m.ValidationAccuracy, bits m.LearningRate

let private expectStored (stored: StoredTrial) (result: TrialResult) (modelPath: string option) =
    let trial = result.Trial
    Expect.equal stored.Key trial.Key "key"
    Expect.equal stored.Configuration trial.Configuration "configuration"
    Expect.equal stored.Seed trial.Seed "seed"
    Expect.equal stored.Settings (Sweep.describe trial.Settings) "settings"
    Expect.equal stored.Values (trial.Values |> List.map (fun (s, v) -> Setting.name s, Value.format v)) "values"
    Expect.equal stored.State (TrialState.Finished result.Status) "state"
    Expect.equal stored.Reason result.Reason "reason"
    Expect.equal stored.Stop (Some result.Stop) "stop"
    Expect.equal stored.KeptEpoch (Some result.KeptEpoch) "kept epoch"
    let figures (t: StoredTrial) = [ t.ValidationLoss; t.ValidationAccuracy; t.TestLoss; t.TestAccuracy; t.Seconds ] |> List.map (Option.map bits)
    let expected = [ result.ValidationLoss; result.ValidationAccuracy; result.TestLoss; result.TestAccuracy; result.Seconds ] |> List.map (bits >> Some)
    Expect.equal (figures stored) expected "final figures, bit for bit"
    Expect.equal stored.ModelPath modelPath "model path"
    Expect.isSome stored.FinishedUtc "finished time"
    Expect.equal (stored.History |> List.map epochBits) (result.History |> List.map epochBits) "history, bit for bit"

// ---- Temporary stores ----

let private withDir (body: string -> unit) =
    let dir = Path.Combine(Path.GetTempPath(), "hybrid-store-" + Guid.NewGuid().ToString "N")
    try body dir
    finally if Directory.Exists dir then Directory.Delete(dir, true)

let private withStore (body: Store -> unit) =
    withDir (fun dir ->
        use store = Store.openAt (Path.Combine(dir, "runs.db"))
        body store)

/// A store holding the small sweep, registered, with its trials pending.
let private withSweep (body: Store -> Sweep -> Trial list -> unit) =
    withStore (fun store ->
        let sweep = small ()
        let trials = Sweep.expand sweep
        Store.register store sweep manifest |> ignore
        Store.addTrials store sweep.Name trials
        body store sweep trials)

/// A connection beside the store's, pooled off so the file is closed when it is disposed.
let private raw (file: string) =
    let connection = new SqliteConnection(SqliteConnectionStringBuilder(DataSource = file, Pooling = false).ConnectionString)
    connection.Open()
    connection

let private scalar (connection: SqliteConnection) (sql: string) : string =
    use c = connection.CreateCommand()
    c.CommandText <- sql
    string (c.ExecuteScalar())

let private stored (store: Store) (sweep: string) (key: string) =
    Store.results store sweep |> List.find (fun t -> t.Key = key)

// ---- Opening and schema ----

let private openingTests =
    testList "opening" [
        testCase "creates the directory and a WAL database at schema version 1" <| fun () ->
            withDir (fun dir ->
                let file = Path.Combine(dir, "nested", "sweep", "runs.db")
                do
                    use store = Store.openAt file
                    Expect.equal store.File file "full path"
                Expect.isTrue (File.Exists file) "file created"
                use connection = raw file
                Expect.equal (scalar connection "SELECT max(version) FROM schema_version") "1" "schema version"
                Expect.equal (scalar connection "PRAGMA journal_mode") "wal" "journal mode"
                let tables = scalar connection "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name)"
                Expect.equal tables "checkpoints,definitions,epochs,manifest,schema_version,sweep_trials,sweeps,trials,verifications" "tables")

        testCase "reopening keeps the data and migrates nothing again" <| fun () ->
            withDir (fun dir ->
                let file = Path.Combine(dir, "runs.db")
                let sweep = small ()
                do
                    use store = Store.openAt file
                    Store.register store sweep manifest |> ignore
                    Store.addTrials store sweep.Name (Sweep.expand sweep)
                use store = Store.openAt file
                Expect.equal (Store.results store sweep.Name |> List.length) 8 "trials kept"
                Expect.equal (Store.manifest store sweep.Name) manifest "manifest kept"
                use connection = raw file
                Expect.equal (scalar connection "SELECT count(*) FROM schema_version") "1" "one migration row")

        testCase "a newer schema version is refused, naming the file and both versions" <| fun () ->
            withDir (fun dir ->
                let file = Path.Combine(dir, "runs.db")
                (Store.openAt file :> IDisposable).Dispose()
                do
                    use connection = raw file
                    scalar connection "INSERT INTO schema_version (version, applied_utc) VALUES (99, 'later')" |> ignore
                let e = Expect.throwsC (fun () -> Store.openAt file |> ignore) id
                match e with
                | :? InvalidFileException as e ->
                    Expect.equal e.File file "file"
                    Expect.stringContains e.Message "version 99" "found version"
                    Expect.stringContains e.Message (sprintf "up to version %d" Store.schemaVersion) "supported version"
                | other -> failtestf "expected InvalidFileException, got %O" other)

        testCase "a file that is not a SQLite database is refused and left as it was" <| fun () ->
            withDir (fun dir ->
                Directory.CreateDirectory dir |> ignore
                let file = Path.Combine(dir, "iris.csv")
                File.WriteAllText(file, "5.1,3.5,1.4,0.2,setosa\n")
                let e = Expect.throwsC (fun () -> Store.openAt file |> ignore) id
                match e with
                | :? InvalidFileException as e -> Expect.equal e.File file "names the file"
                | other -> failtestf "expected InvalidFileException, got %O" other
                Expect.equal (File.ReadAllText file) "5.1,3.5,1.4,0.2,setosa\n" "file untouched")

        testCase "a SQLite database of another program is refused" <| fun () ->
            withDir (fun dir ->
                Directory.CreateDirectory dir |> ignore
                let file = Path.Combine(dir, "other.db")
                do
                    use connection = raw file
                    scalar connection "CREATE TABLE accounts (id INTEGER)" |> ignore
                let e = Expect.throwsC (fun () -> Store.openAt file |> ignore) id
                match e with
                | :? InvalidFileException as e -> Expect.stringContains e.Problem "not a Hybrid run store" "says why"
                | other -> failtestf "expected InvalidFileException, got %O" other)
    ]

// ---- Sweeps and trials ----

let private sweepTests =
    testList "sweeps" [
        testCase "registering twice is idempotent; the manifest is replaced" <| fun () ->
            withStore (fun store ->
                let sweep = small ()
                Expect.equal (Store.register store sweep manifest) Registration.New "first"
                Expect.equal (Store.register store sweep [ "git commit", "def456" ]) Registration.Unchanged "again"
                Expect.equal (Store.manifest store sweep.Name) [ "git commit", "def456" ] "latest manifest"
                let recorded = Store.sweep store sweep.Name |> Option.get
                Expect.equal recorded.DefinitionHash (Sweep.definitionHash sweep) "hash"
                Expect.stringContains recorded.Definition (Sweep.print sweep) "definition"
                Expect.stringContains recorded.Definition (Sweep.describe sweep.Base) "base settings"
                Expect.equal recorded.Notes sweep.Notes "notes"
                Expect.equal recorded.History.Length 1 "one definition")

        testCase "a changed definition is recorded, keeps finished trials and adds only the new ones" <| fun () ->
            withSweep (fun store sweep trials ->
                let first = trials.Head
                Store.finish store (resultOf first Completed) None
                let wider = sweepOver sweep.Name [ 4; 8; 16 ]
                Expect.equal (Store.register store wider manifest) (Registration.Changed(Sweep.definitionHash sweep)) "changed"
                let widerTrials = Sweep.expand wider
                Store.addTrials store wider.Name widerTrials
                let all = Store.results store wider.Name
                Expect.equal (all |> List.map _.Key |> Set.ofList) (widerTrials |> List.map _.Key |> Set.ofList) "old and new trials, once each"
                Expect.equal (Store.completedKeys store wider.Name) (set [ first.Key ]) "the finished trial stays finished"
                let current = Sweep.definitionHash wider
                Expect.allEqual (all |> List.map _.DefinitionHash) current "every trial under the current definition"
                Expect.equal (all |> List.map _.Configuration) (widerTrials |> List.map _.Configuration) "configurations as expanded now"
                let history = (Store.sweep store wider.Name |> Option.get).History |> List.map fst
                Expect.equal history [ Sweep.definitionHash sweep; current ] "both definitions in the history")

        testCase "adding the same trials twice adds nothing" <| fun () ->
            withSweep (fun store sweep trials ->
                Store.addTrials store sweep.Name trials
                let all = Store.results store sweep.Name
                Expect.equal (all |> List.map _.Key) (trials |> List.map _.Key) "each trial once, in expansion order"
                Expect.allEqual (all |> List.map _.State) TrialState.Pending "pending"
                Expect.equal (all |> List.map _.Seed) (trials |> List.map _.Seed) "seeds, UInt64.MaxValue included"
                Expect.isTrue (all |> List.forall (fun t -> t.ValidationLoss.IsNone && t.History.IsEmpty)) "no results yet")

        testCase "trials of an unregistered sweep are refused" <| fun () ->
            withStore (fun store ->
                Expect.throwsT<ArgumentException> (fun () -> Store.addTrials store "nobody" (Sweep.expand (small ()))) "unregistered")

        testCase "an unknown trial has no status and cannot be finished" <| fun () ->
            withSweep (fun store _ trials ->
                Expect.isNone (Store.status store "no-such-key") "status"
                let stranger = { trials.Head with Key = "no-such-key" }
                Expect.throwsT<ArgumentException> (fun () -> Store.finish store (resultOf stranger Completed) None) "finish"
                Expect.throwsT<ArgumentException> (fun () -> Store.markRunning store "no-such-key") "markRunning")
    ]

// ---- A trial's life ----

let private lifecycleTests =
    testList "lifecycle" [
        testCase "pending, running, epochs, checkpoints, finished: read back exactly" <| fun () ->
            withSweep (fun store sweep trials ->
                let trial = trials[3]
                let result = resultOf trial Completed
                Expect.equal (Store.status store trial.Key) (Some TrialState.Pending) "pending"
                Store.markRunning store trial.Key
                Expect.equal (Store.status store trial.Key) (Some TrialState.Running) "running"
                Expect.isSome (stored store sweep.Name trial.Key).StartedUtc "start time"
                let first, second = result.History[0], result.History[1]
                Store.recordEpoch store trial.Key first
                Store.saveCheckpoint store trial.Key 1 [| 1uy; 2uy; 3uy |]
                Store.recordEpochWithCheckpoint store trial.Key second [| 4uy; 5uy |]
                Expect.equal (Store.latestCheckpoint store trial.Key) (Some(2, [| 4uy; 5uy |])) "checkpoint replaced"
                let running = stored store sweep.Name trial.Key
                Expect.equal (running.History |> List.map epochBits) ([ first; second ] |> List.map epochBits) "epochs so far"
                Expect.isNone running.TestAccuracy "no final figures while running"
                Store.finish store result (Some "runs/small/models/t3.safetensors")
                Expect.equal (Store.status store trial.Key) (Some(TrialState.Finished Completed)) "completed"
                Expect.isNone (Store.latestCheckpoint store trial.Key) "checkpoint deleted"
                expectStored (stored store sweep.Name trial.Key) result (Some "runs/small/models/t3.safetensors"))

        testCase "a diverged trial keeps NaN apart from a missing value" <| fun () ->
            withSweep (fun store sweep trials ->
                let trial = trials[1]
                let history =
                    [ EpochMetrics(1, 0.5, 0.25, Nullable(nan), Nullable(), Double.PositiveInfinity)
                      EpochMetrics(2, nan, Double.NegativeInfinity, Nullable(), Nullable(0.0), 1e-3) ]
                let result = { resultOf trial Diverged with History = history; TestLoss = nan; TestAccuracy = Double.PositiveInfinity }
                Store.finish store result None
                expectStored (stored store sweep.Name trial.Key) result None)

        testCase "recording an epoch again replaces it" <| fun () ->
            withSweep (fun store sweep trials ->
                let trial = trials.Head
                Store.recordEpoch store trial.Key (EpochMetrics(1, 1.0, 0.5, Nullable(), Nullable(), 0.1))
                Store.recordEpoch store trial.Key (EpochMetrics(1, 2.0, 0.75, Nullable 0.3, Nullable 0.9, 0.1))
                let history = (stored store sweep.Name trial.Key).History
                Expect.equal history [ EpochMetrics(1, 2.0, 0.75, Nullable 0.3, Nullable 0.9, 0.1) ] "one epoch, the latest")

        testCase "running again drops the epochs recorded after the checkpoint" <| fun () ->
            withSweep (fun store sweep trials ->
                let trial = trials.Head
                let history = historyOf trial 3
                Store.markRunning store trial.Key
                Store.recordEpochWithCheckpoint store trial.Key history[0] [| 1uy |]
                Store.recordEpoch store trial.Key history[1]
                Store.recordEpoch store trial.Key history[2]
                Store.markRunning store trial.Key
                Expect.equal (stored store sweep.Name trial.Key).History [ history[0] ] "epochs up to the checkpoint"
                Store.saveCheckpoint store trial.Key 1 [| 1uy |]
                let other = trials[1]
                Store.markRunning store other.Key
                Store.recordEpoch store other.Key history[0]
                Store.markRunning store other.Key
                Expect.isEmpty (stored store sweep.Name other.Key).History "without a checkpoint, no epochs")

        testCase "completed, diverged and failed trials all count as finished" <| fun () ->
            withSweep (fun store sweep trials ->
                Store.finish store (resultOf trials[0] Completed) None
                Store.finish store (resultOf trials[1] Diverged) None
                Store.finish store (resultOf trials[2] Failed) None
                Store.markRunning store trials[3].Key
                let expected = set [ trials[0].Key; trials[1].Key; trials[2].Key ]
                Expect.equal (Store.completedKeys store sweep.Name) expected "finished keys"
                Expect.isEmpty (Store.completedKeys store "another sweep") "per sweep")

        testCase "resetFailed makes failed trials pending again and leaves the rest" <| fun () ->
            withSweep (fun store sweep trials ->
                let failed = resultOf trials[2] Failed
                Store.finish store (resultOf trials[0] Completed) None
                Store.finish store failed None
                Expect.equal (Store.resetFailed store sweep.Name) 1 "one reset"
                let reset = stored store sweep.Name failed.Trial.Key
                Expect.equal reset.State TrialState.Pending "pending"
                Expect.equal reset.Reason "" "reason cleared"
                Expect.isEmpty reset.History "epochs cleared"
                Expect.isNone reset.TestLoss "figures cleared"
                Expect.equal (Store.completedKeys store sweep.Name) (set [ trials[0].Key ]) "completed kept"
                Expect.equal (Store.resetFailed store sweep.Name) 0 "nothing left to reset")

        testCase "verifications are recorded in order, per sweep" <| fun () ->
            withSweep (fun store sweep trials ->
                Store.finish store (resultOf trials[0] Completed) None
                Store.recordVerification store trials[0].Key true "weights and metrics bit-identical"
                Store.recordVerification store trials[0].Key false "W1[3]: 0.25 vs 0.2500001"
                let recorded = Store.verifications store sweep.Name
                Expect.equal (recorded |> List.map (fun v -> v.Key, v.Identical, v.Detail))
                    [ trials[0].Key, true, "weights and metrics bit-identical"; trials[0].Key, false, "W1[3]: 0.25 vs 0.2500001" ]
                    "both, oldest first"
                Expect.throwsT<ArgumentException> (fun () -> Store.recordVerification store "no-such-key" true "") "unknown trial")
    ]

// ---- Durability: a writer killed mid-sweep ----

let private durabilitySweep () = sweepOver "durability" [ 1..100 ]

/// The child process's work (tests/Hybrid.Tests run with `--store-writer FILE`): runs fake trials one
/// after another through the store, printing each key once its finish has committed, until killed.
let writer (file: string) : int =
    use store = Store.openAt file
    let sweep = durabilitySweep ()
    let trials = Sweep.expand sweep
    Store.register store sweep manifest |> ignore
    Store.addTrials store sweep.Name trials
    let checkpoint = Array.init 65536 byte
    for trial in trials do
        let result = resultOf trial Completed
        Store.markRunning store trial.Key
        for m in result.History do
            Store.recordEpochWithCheckpoint store trial.Key m checkpoint
        Store.finish store result None
        stdout.WriteLine("finished " + trial.Key)
        stdout.Flush()
    0

let private durabilityTests =
    testList "durability" [
        testCase "a writer killed mid-sweep leaves a sound database with every finished trial intact" <| fun () ->
            withDir (fun dir ->
                let file = Path.Combine(dir, "runs.db")
                let test = Reflection.Assembly.GetExecutingAssembly().Location
                let info = ProcessStartInfo("dotnet", RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false)
                [ test; "--store-writer"; file ] |> List.iter info.ArgumentList.Add
                use child =
                    match Process.Start info with
                    | null -> failtest "could not start the writer"
                    | child -> child
                let reported = Collections.Generic.List<string>()
                let deadline = Stopwatch.StartNew()
                while reported.Count < 5 && deadline.Elapsed < TimeSpan.FromMinutes 2.0 do
                    match child.StandardOutput.ReadLine() with
                    | null ->
                        child.WaitForExit()
                        failtestf "the writer ended early (exit code %d): %s" child.ExitCode (child.StandardError.ReadToEnd())
                    | line when line.StartsWith "finished " -> reported.Add(line.Substring 9)
                    | _ -> ()
                child.Kill true
                child.WaitForExit()
                Expect.equal reported.Count 5 "the writer reported five finished trials before the kill"
                do
                    use connection = raw file
                    Expect.equal (scalar connection "PRAGMA integrity_check") "ok" "integrity check"
                use store = Store.openAt file
                let sweep = durabilitySweep ()
                let byKey = Sweep.expand sweep |> List.map (fun t -> t.Key, t) |> Map.ofList
                let finished = Store.results store sweep.Name |> List.filter (fun t -> t.State = TrialState.Finished Completed)
                let finishedKeys = finished |> List.map _.Key |> Set.ofList
                Expect.isTrue (Set.isSubset (Set.ofSeq reported) finishedKeys) "every reported trial is finished in the store"
                for t in finished do
                    expectStored t (resultOf byKey[t.Key] Completed) None
                let unfinished = Store.results store sweep.Name |> List.filter (fun t -> t.State <> TrialState.Finished Completed)
                Expect.equal (finished.Length + unfinished.Length) byKey.Count "every trial still there")
    ]

let tests =
    testList "Store" [ openingTests; sweepTests; lifecycleTests; durabilityTests ]
