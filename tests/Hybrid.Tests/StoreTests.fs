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

let private expectStored (stored: StoredTrial) (result: TrialResult) =
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
    Expect.isSome stored.FinishedUtc "finished time"
    Expect.equal (stored.History |> List.map epochBits) (result.History |> List.map epochBits) "history, bit for bit"

// ---- Temporary stores, on either database ----

let private withDir (body: string -> unit) =
    let dir = Path.Combine(Path.GetTempPath(), "hybrid-store-" + Guid.NewGuid().ToString "N")
    try body dir
    finally if Directory.Exists dir then Directory.Delete(dir, true)

/// An empty store: a SQLite file in a temporary folder, or a fresh PostgreSQL database.
let private withStore (backend: Backend) (body: Store -> unit) =
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
let private withSweep backend (body: Store -> Sweep -> Trial list -> unit) =
    withStore backend (fun store ->
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

// ---- Claims ----

let private patient = TimeSpan.FromHours 1.0

/// The next claim of this process, which the test expects to exist.
let private claim (store: Store) (sweep: Sweep) =
    match Store.claimNext store sweep.Name Worker.current patient with
    | Some claim -> claim
    | None -> failtest "expected a claimable trial"

/// Claims the next trial and finishes it with the given result, which must be for that trial.
let private finishNext store sweep (result: TrialResult) =
    let claim = claim store sweep
    Expect.equal claim.Key result.Trial.Key "trials are claimed in the sweep's order"
    Expect.isTrue (Store.finish store claim result None) "finished under its claim"

let private storeError action : StoreException = Common.raised action

/// A worker of another machine, whose process this one cannot see.
let private elsewhere = "another-machine/4242/170000"

/// A safetensors-like blob; the store keeps models and checkpoints as opaque bytes.
let private blob (length: int) (seed: int) = Array.init length (fun i -> byte ((i * 31 + seed) % 251))

// ---- Opening and schema ----

let private sqliteOpeningTests =
    testList "opening a SQLite file" [
        testCase "creates the directory and a WAL database at the current schema version" <| fun () ->
            withDir (fun dir ->
                let file = Path.Combine(dir, "nested", "sweep", "runs.db")
                do
                    use store = Store.openAt file
                    Expect.equal store.Location file "full path"
                    Expect.equal store.Backend Backend.Sqlite "backend"
                Expect.isTrue (File.Exists file) "file created"
                use connection = raw file
                Expect.equal (scalar connection "SELECT max(version) FROM schema_version") (string Store.schemaVersion) "schema version"
                Expect.equal (scalar connection "PRAGMA journal_mode") "wal" "journal mode"
                let tables = scalar connection "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name)"
                Expect.equal tables "checkpoints,definitions,epochs,manifest,models,schema_version,sweep_trials,sweeps,trials,verifications" "tables")

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
                Expect.equal (scalar connection "SELECT count(*) FROM schema_version") (string Store.schemaVersion) "one row per migration")

        testCase "a store of schema version 1 is migrated, and its trials' model files still read" <| fun () ->
            withDir (fun dir ->
                let file = Path.Combine(dir, "runs.db")
                let sweep = small ()
                let trials = Sweep.expand sweep
                do
                    use store = Store.openAt file
                    Store.register store sweep manifest |> ignore
                    Store.addTrials store sweep.Name trials
                let model = Path.Combine(dir, "model.safetensors")
                File.WriteAllBytes(model, blob 100 7)
                do
                    // Turn the file back into what Hybrid 0.1 wrote: schema 1, a finished trial with a model path.
                    use connection = raw file
                    for sql in
                        [ "DROP TABLE models"
                          "DROP INDEX trials_status"
                          "ALTER TABLE trials DROP COLUMN claim"
                          "ALTER TABLE trials DROP COLUMN worker"
                          "ALTER TABLE trials DROP COLUMN heartbeat"
                          "ALTER TABLE trials DROP COLUMN attempts"
                          "DELETE FROM schema_version WHERE version = 2"
                          sprintf "UPDATE trials SET status = 'completed', model_path = '%s' WHERE key = '%s'" model trials[0].Key ] do
                        scalar connection sql |> ignore
                use store = Store.openAt file
                Expect.equal (Store.model store trials[0].Key) (Some(blob 100 7)) "the old model file is the trial's model"
                Expect.equal (Store.counts store sweep.Name) { Pending = 7; Running = 0; Finished = 1 } "the other trials can be claimed"
                Expect.equal (claim store sweep).Key trials[1].Key "claims work on the migrated store")

        testCase "a newer schema version is refused, naming the file and both versions" <| fun () ->
            withDir (fun dir ->
                let file = Path.Combine(dir, "runs.db")
                (Store.openAt file :> IDisposable).Dispose()
                do
                    use connection = raw file
                    scalar connection "INSERT INTO schema_version (version, applied_utc) VALUES (99, 'later')" |> ignore
                let e = storeError (fun () -> Store.openAt file |> ignore)
                Expect.equal e.Store file "file"
                Expect.stringContains e.Message "version 99" "found version"
                Expect.stringContains e.Message (sprintf "up to version %d" Store.schemaVersion) "supported version")

        testCase "a file that is not a SQLite database is refused and left as it was" <| fun () ->
            withDir (fun dir ->
                Directory.CreateDirectory dir |> ignore
                let file = Path.Combine(dir, "iris.csv")
                File.WriteAllText(file, "5.1,3.5,1.4,0.2,setosa\n")
                let e: InvalidFileException = Common.raised (fun () -> Store.openAt file |> ignore)
                Expect.equal e.File file "names the file"
                Expect.equal (File.ReadAllText file) "5.1,3.5,1.4,0.2,setosa\n" "file untouched")

        testCase "a SQLite database of another program is refused" <| fun () ->
            withDir (fun dir ->
                Directory.CreateDirectory dir |> ignore
                let file = Path.Combine(dir, "other.db")
                do
                    use connection = raw file
                    scalar connection "CREATE TABLE accounts (id INTEGER)" |> ignore
                let e = storeError (fun () -> Store.openAt file |> ignore)
                Expect.stringContains e.Problem "not a Hybrid run store" "says why")

        testCase "a location with Host= opens PostgreSQL; anything else is a SQLite file" <| fun () ->
            withDir (fun dir ->
                let file = Path.Combine(dir, "x.db")
                do
                    use store = Store.connect file
                    Expect.equal store.Backend Backend.Sqlite "a path"
                let e = storeError (fun () -> Store.connect "Host=127.0.0.1;Bogus=1" |> ignore)
                Expect.stringContains e.Problem "not a valid connection string" "says what is wrong")
    ]

let private postgresOpeningTests =
    testList "opening a PostgreSQL database" [
        testCase "creates the schema; the location names user, server and database but never the password" <| fun () ->
            Postgres.withDatabase (fun connectionString ->
                do
                    use store = Store.connect connectionString
                    Expect.equal store.Backend Backend.Postgres "backend"
                    let builder = Npgsql.NpgsqlConnectionStringBuilder connectionString
                    Expect.equal store.Location (sprintf "postgresql://%s@%s:%d/%s" builder.Username builder.Host builder.Port builder.Database) "location"
                    Expect.isFalse (store.Location.Contains(string builder.Password)) "no password"
                Expect.equal (Postgres.scalar connectionString "SELECT max(version) FROM schema_version" |> string) (string Store.schemaVersion) "schema version"
                use again = Store.connect connectionString
                Expect.equal (Postgres.scalar connectionString "SELECT count(*) FROM schema_version" |> string) (string Store.schemaVersion) "migrated once")

        testCase "a newer schema version is refused with both versions" <| fun () ->
            Postgres.withDatabase (fun connectionString ->
                (Store.connect connectionString :> IDisposable).Dispose()
                Postgres.scalar connectionString "INSERT INTO schema_version (version, applied_utc) VALUES (99, 'later')" |> ignore
                let e = storeError (fun () -> Store.connect connectionString |> ignore)
                Expect.stringContains e.Message "version 99" "found version"
                Expect.stringContains e.Message (sprintf "up to version %d" Store.schemaVersion) "supported version")

        testCase "another application's tables named like the store's are refused; other tables are left alone" <| fun () ->
            Postgres.withDatabase (fun connectionString ->
                Postgres.scalar connectionString "CREATE TABLE invoices (id INTEGER)" |> ignore
                (Store.connect connectionString :> IDisposable).Dispose()
                Postgres.withDatabase (fun other ->
                    Postgres.scalar other "CREATE TABLE trials (id INTEGER)" |> ignore
                    let e = storeError (fun () -> Store.connect other |> ignore)
                    Expect.stringContains e.Problem "not a Hybrid run store" "says why"))

        testCase "a wrong password or a missing database is refused at once, naming the store but not the password" <| fun () ->
            Postgres.withDatabase (fun connectionString ->
                let wrong = Npgsql.NpgsqlConnectionStringBuilder(connectionString, Password = "not-the-password-42")
                let e = storeError (fun () -> Store.connect wrong.ConnectionString |> ignore)
                Expect.stringContains e.Problem "the server refused: password authentication failed" "says why"
                Expect.isFalse (e.Message.Contains "not-the-password-42") "never the password"
                let missing = Npgsql.NpgsqlConnectionStringBuilder(connectionString, Database = "no_such_database")
                let e = storeError (fun () -> Store.connect missing.ConnectionString |> ignore)
                Expect.stringContains e.Message "no_such_database" "names the database"
                Expect.stringContains e.Problem "does not exist" "says why")

        testCase "a server that cannot be reached is given up after the retry bound, with a clear message" <| fun () ->
            let watch = Diagnostics.Stopwatch.StartNew()
            // Port 1 on the loopback refuses at once: nothing listens there.
            let location = "Host=127.0.0.1;Port=1;Username=u;Password=secret-42;Database=d"
            let e = storeError (fun () -> Store.openPostgresRetrying (TimeSpan.FromSeconds 1.0) location |> ignore)
            Expect.stringContains e.Message "could not be reached" "says what happened"
            Expect.stringContains e.Message "postgresql://u@127.0.0.1:1/d" "names the store"
            Expect.isFalse (e.Message.Contains "secret-42") "never the password"
            Expect.isLessThan watch.Elapsed.TotalSeconds 10.0 "bounded: 1 s of retries"
    ]

// ---- Sweeps and trials ----

let private sweepTests backend =
    testList "sweeps" [
        testCase "registering twice is idempotent; the manifest is replaced" <| fun () ->
            withStore backend (fun store ->
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

        testCase "another definition under the name is refused while the registered one has trials to run" <| fun () ->
            withSweep backend (fun store sweep trials ->
                finishNext store sweep (resultOf trials[0] Completed)
                let typo = sweepOver sweep.Name [ 4; 9 ]
                let e = storeError (fun () -> Store.register store typo manifest |> ignore)
                Expect.stringContains e.Problem (sprintf "sweep '%s' is registered with another definition" sweep.Name) "says which sweep"
                Expect.stringContains e.Problem "7 trials not finished" "says why"
                Expect.stringContains e.Problem (Sweep.definitionHash typo) "names the new definition"
                Expect.equal (Store.sweep store sweep.Name |> Option.get).DefinitionHash (Sweep.definitionHash sweep) "the registered one stays")

        testCase "once finished, a changed definition is recorded, keeps finished trials and adds only the new ones" <| fun () ->
            withSweep backend (fun store sweep trials ->
                for t in trials do
                    finishNext store sweep (resultOf t Completed)
                let wider = sweepOver sweep.Name [ 4; 8; 16 ]
                Expect.equal (Store.register store wider manifest) (Registration.Changed(Sweep.definitionHash sweep)) "changed"
                let widerTrials = Sweep.expand wider
                Store.addTrials store wider.Name widerTrials
                let all = Store.results store wider.Name
                Expect.equal (all |> List.map _.Key |> Set.ofList) (widerTrials |> List.map _.Key |> Set.ofList) "old and new trials, once each"
                Expect.equal (Store.completedKeys store wider.Name) (trials |> List.map _.Key |> Set.ofList) "the finished trials stay finished"
                Expect.equal (Store.counts store wider.Name) { Pending = 4; Running = 0; Finished = 8 } "only the new ones to run"
                let current = Sweep.definitionHash wider
                Expect.allEqual (all |> List.map _.DefinitionHash) current "every trial under the current definition"
                Expect.equal (all |> List.map _.Configuration) (widerTrials |> List.map _.Configuration) "configurations as expanded now"
                let history = (Store.sweep store wider.Name |> Option.get).History |> List.map fst
                Expect.equal history [ Sweep.definitionHash sweep; current ] "both definitions in the history")

        testCase "adding the same trials twice adds nothing" <| fun () ->
            withSweep backend (fun store sweep trials ->
                Store.addTrials store sweep.Name trials
                let all = Store.results store sweep.Name
                Expect.equal (all |> List.map _.Key) (trials |> List.map _.Key) "each trial once, in expansion order"
                Expect.allEqual (all |> List.map _.State) TrialState.Pending "pending"
                Expect.equal (all |> List.map _.Seed) (trials |> List.map _.Seed) "seeds, UInt64.MaxValue included"
                Expect.isTrue (all |> List.forall (fun t -> t.ValidationLoss.IsNone && t.History.IsEmpty && t.Attempts = 0)) "no results yet")

        testCase "trials of an unregistered sweep are refused" <| fun () ->
            withStore backend (fun store ->
                Expect.throwsT<ArgumentException> (fun () -> Store.addTrials store "nobody" (Sweep.expand (small ()))) "unregistered")

        testCase "an unknown trial has no status and no model" <| fun () ->
            withSweep backend (fun store _ _ ->
                Expect.isNone (Store.status store "no-such-key") "status"
                Expect.isNone (Store.model store "no-such-key") "model")
    ]

// ---- A trial's life ----

let private lifecycleTests backend =
    testList "lifecycle" [
        testCase "pending, claimed, epochs and checkpoints, finished with its model: read back exactly" <| fun () ->
            withSweep backend (fun store sweep trials ->
                let trial = trials[0]
                let result = resultOf trial Completed
                Expect.equal (Store.status store trial.Key) (Some TrialState.Pending) "pending"
                let c = claim store sweep
                Expect.equal (c.Key, c.Attempt, c.Checkpoint) (trial.Key, 1, None) "the first trial, first attempt, nothing to resume"
                Expect.equal (Store.status store trial.Key) (Some TrialState.Running) "running"
                let running = stored store sweep.Name trial.Key
                Expect.isSome running.StartedUtc "start time"
                Expect.equal running.Worker (Some Worker.current) "held by this process"
                let first, second = result.History[0], result.History[1]
                Expect.isTrue (Store.recordEpochsWithCheckpoint store c [ first ] (blob 3 1)) "epoch 1"
                Expect.isTrue (Store.recordEpochsWithCheckpoint store c [ second ] (blob 70000 2)) "epoch 2"
                Expect.equal (Store.latestCheckpoint store trial.Key) (Some(2, blob 70000 2)) "checkpoint replaced"
                let running = stored store sweep.Name trial.Key
                Expect.equal (running.History |> List.map epochBits) ([ first; second ] |> List.map epochBits) "epochs so far"
                Expect.isNone running.TestAccuracy "no final figures while running"
                Expect.isTrue (Store.finish store c result (Some(blob 5000 3))) "finished"
                Expect.equal (Store.status store trial.Key) (Some(TrialState.Finished Completed)) "completed"
                Expect.isNone (Store.latestCheckpoint store trial.Key) "checkpoint deleted"
                Expect.equal (Store.model store trial.Key) (Some(blob 5000 3)) "the model, byte for byte"
                let finished = stored store sweep.Name trial.Key
                expectStored finished result
                Expect.equal finished.Attempts 1 "one attempt")

        testCase "a diverged trial keeps NaN apart from a missing value" <| fun () ->
            withSweep backend (fun store sweep trials ->
                let trial = trials[0]
                let history =
                    [ EpochMetrics(1, 0.5, 0.25, Nullable(nan), Nullable(), Double.PositiveInfinity)
                      EpochMetrics(2, nan, Double.NegativeInfinity, Nullable(), Nullable(0.0), 1e-3) ]
                let result = { resultOf trial Diverged with History = history; TestLoss = nan; TestAccuracy = Double.PositiveInfinity }
                finishNext store sweep result
                expectStored (stored store sweep.Name trial.Key) result
                Expect.isNone (Store.model store trial.Key) "no model")

        testCase "recording an epoch again replaces it" <| fun () ->
            withSweep backend (fun store sweep trials ->
                let c = claim store sweep
                Store.recordEpochsWithCheckpoint store c [ (EpochMetrics(1, 1.0, 0.5, Nullable(), Nullable(), 0.1)) ] (blob 1 1) |> ignore
                Store.recordEpochsWithCheckpoint store c [ (EpochMetrics(1, 2.0, 0.75, Nullable 0.3, Nullable 0.9, 0.1)) ] (blob 1 2) |> ignore
                let history = (stored store sweep.Name trials[0].Key).History
                Expect.equal history [ EpochMetrics(1, 2.0, 0.75, Nullable 0.3, Nullable 0.9, 0.1) ] "one epoch, the latest")

        testCase "a claim taken over resumes from its checkpoint, and the old holder can record nothing more" <| fun () ->
            withSweep backend (fun store sweep trials ->
                let history = historyOf trials[0] 3
                let old = Store.claimNext store sweep.Name elsewhere patient |> Option.get
                Store.recordEpochsWithCheckpoint store old [ history[0]; history[1] ] (blob 10 2) |> ignore
                Threading.Thread.Sleep 20
                let taken = Store.claimNext store sweep.Name Worker.current TimeSpan.Zero |> Option.get
                Expect.equal (taken.Key, taken.Attempt, taken.Checkpoint) (old.Key, 2, Some(2, blob 10 2)) "same trial, second attempt, from epoch 2"
                Expect.equal (stored store sweep.Name old.Key).History [ history[0]; history[1] ] "epochs up to the checkpoint kept"
                Expect.isFalse (Store.recordEpochsWithCheckpoint store old [ history[2] ] (blob 10 3)) "the old holder's epoch is refused"
                Expect.equal (Store.heartbeat store [ old; taken ]) [ old ] "the old claim is reported lost"
                Expect.isFalse (Store.finish store old (resultOf trials[0] Completed) None) "the old holder cannot finish it"
                Expect.equal (Store.status store old.Key) (Some TrialState.Running) "still running under the new claim"
                Expect.isTrue (Store.finish store taken (resultOf trials[0] Completed) None) "the new holder finishes it"
                Expect.equal (stored store sweep.Name old.Key).Attempts 2 "two attempts recorded")

        testCase "a claim with a fresh heartbeat is left alone, and taken over once it is older than the grace period" <| fun () ->
            withSweep backend (fun store sweep trials ->
                let grace = TimeSpan.FromSeconds 1.0
                let far = Store.claimNext store sweep.Name elsewhere grace |> Option.get
                Expect.equal far.Key trials[0].Key "the far worker holds the first trial"
                let mine = Store.claimNext store sweep.Name Worker.current grace |> Option.get
                Expect.equal mine.Key trials[1].Key "a fresh claim is passed over"
                Threading.Thread.Sleep 1200
                Expect.isEmpty (Store.heartbeat store [ mine ]) "this worker keeps its claim alive"
                let taken = Store.claimNext store sweep.Name Worker.current grace |> Option.get
                Expect.equal (taken.Key, taken.Attempt) (trials[0].Key, 2) "the silent claim is taken over"
                let next = Store.claimNext store sweep.Name Worker.current grace |> Option.get
                Expect.equal next.Key trials[2].Key "the live claim is not")

        testCase "a claim of this machine's dead process is taken over at once" <| fun () ->
            withSweep backend (fun store sweep trials ->
                use ended = Diagnostics.Process.Start("true")
                ended.WaitForExit()
                let machine = Worker.current.Split('/')[0]
                let dead = sprintf "%s/%d/%d" machine ended.Id 12345L
                Store.claimNext store sweep.Name dead patient |> ignore
                let taken = claim store sweep
                Expect.equal (taken.Key, taken.Attempt) (trials[0].Key, 2) "taken over without waiting for the grace period")

        testCase "counts follow the trials; with every trial finished nothing is claimable" <| fun () ->
            withSweep backend (fun store sweep trials ->
                Expect.equal (Store.counts store sweep.Name) { Pending = 8; Running = 0; Finished = 0 } "all pending"
                finishNext store sweep (resultOf trials[0] Completed)
                claim store sweep |> ignore
                Expect.equal (Store.counts store sweep.Name) { Pending = 6; Running = 1; Finished = 1 } "one of each"
                for t in trials |> List.skip 2 do
                    finishNext store sweep (resultOf t Failed)
                Expect.isNone (Store.claimNext store sweep.Name Worker.current patient) "nothing left but a live claim")

        testCase "completed, diverged and failed trials all count as finished" <| fun () ->
            withSweep backend (fun store sweep trials ->
                finishNext store sweep (resultOf trials[0] Completed)
                finishNext store sweep (resultOf trials[1] Diverged)
                finishNext store sweep (resultOf trials[2] Failed)
                claim store sweep |> ignore
                let expected = set [ trials[0].Key; trials[1].Key; trials[2].Key ]
                Expect.equal (Store.completedKeys store sweep.Name) expected "finished keys"
                Expect.isEmpty (Store.completedKeys store "another sweep") "per sweep")

        testCase "resetFailed makes failed trials pending again and leaves the rest" <| fun () ->
            withSweep backend (fun store sweep trials ->
                finishNext store sweep (resultOf trials[0] Completed)
                let failed = resultOf trials[1] Failed
                finishNext store sweep failed
                Expect.equal (Store.resetFailed store sweep.Name) 1 "one reset"
                let reset = stored store sweep.Name failed.Trial.Key
                Expect.equal reset.State TrialState.Pending "pending"
                Expect.equal reset.Reason "" "reason cleared"
                Expect.isEmpty reset.History "epochs cleared"
                Expect.isNone reset.TestLoss "figures cleared"
                Expect.equal (Store.completedKeys store sweep.Name) (set [ trials[0].Key ]) "completed kept"
                Expect.equal (claim store sweep).Key failed.Trial.Key "claimable again"
                Expect.equal (Store.resetFailed store sweep.Name) 0 "nothing left to reset")

        testCase "verifications are recorded in order, per sweep" <| fun () ->
            withSweep backend (fun store sweep trials ->
                finishNext store sweep (resultOf trials[0] Completed)
                Store.recordVerification store trials[0].Key true "weights and metrics bit-identical"
                Store.recordVerification store trials[0].Key false "W1[3]: 0.25 vs 0.2500001"
                let recorded = Store.verifications store sweep.Name
                Expect.equal (recorded |> List.map (fun v -> v.Key, v.Identical, v.Detail))
                    [ trials[0].Key, true, "weights and metrics bit-identical"; trials[0].Key, false, "W1[3]: 0.25 vs 0.2500001" ]
                    "both, oldest first"
                Expect.throwsT<ArgumentException> (fun () -> Store.recordVerification store "no-such-key" true "") "unknown trial")
    ]

// ---- Copying a sweep between the two databases ----

/// Everything the store says about a sweep, for comparing two stores.
let private everything (store: Store) (sweep: Sweep) =
    let trials = Store.results store sweep.Name
    let stored = Store.sweep store sweep.Name |> Option.get
    {| Sweep = stored
       Manifest = Store.manifest store sweep.Name
       // NaN is not equal to itself: the figures are compared by their bits, below.
       Trials =
        trials
        |> List.map (fun t ->
            { t with History = []; ValidationLoss = None; ValidationAccuracy = None; TestLoss = None; TestAccuracy = None; Seconds = None },
            t.History |> List.map epochBits)
       Figures = trials |> List.map (fun t -> [ t.ValidationLoss; t.ValidationAccuracy; t.TestLoss; t.TestAccuracy; t.Seconds ] |> List.map (Option.map bits))
       Models = trials |> List.map (fun t -> Store.model store t.Key)
       Checkpoints = trials |> List.map (fun t -> Store.latestCheckpoint store t.Key)
       Verifications = Store.verifications store sweep.Name |}

let private copyTests =
    testList "copy" [
        testCase "PostgreSQL to a SQLite file and back loses nothing" <| fun () ->
            Postgres.withDatabase (fun origin ->
                Postgres.withDatabase (fun returned ->
                    withDir (fun dir ->
                        use source = Store.openPostgres origin
                        let sweep = small ()
                        let trials = Sweep.expand sweep
                        Store.register source sweep manifest |> ignore
                        Store.addTrials source sweep.Name trials
                        let completed = claim source sweep
                        Store.recordEpochsWithCheckpoint source completed [ (historyOf trials[0] 1).Head ] (blob 9 9) |> ignore
                        Store.finish source completed (resultOf trials[0] Completed) (Some(blob 4096 1)) |> ignore
                        let diverged = { resultOf trials[1] Diverged with TestLoss = nan; History = [ EpochMetrics(1, nan, 0.5, Nullable(), Nullable nan, 1e-3) ] }
                        Store.finish source (claim source sweep) diverged None |> ignore
                        let running = claim source sweep
                        Store.recordEpochsWithCheckpoint source running [ (historyOf trials[2] 1).Head ] (blob 65536 2) |> ignore
                        Store.recordVerification source trials[0].Key true "identical"
                        Store.recordVerification source trials[0].Key false "2 of 90 weights differ"
                        use archive = Store.openAt (Path.Combine(dir, "archive.db"))
                        Store.copy source archive sweep.Name
                        use back = Store.openPostgres returned
                        Store.copy archive back sweep.Name
                        Expect.equal (everything archive sweep) (everything source sweep) "the SQLite copy holds everything"
                        Expect.equal (everything back sweep) (everything source sweep) "and so does the copy back"
                        Expect.equal (claim back sweep).Key trials[3].Key "the copy's pending trials can be claimed"
                        let e = storeError (fun () -> Store.copy source archive sweep.Name)
                        Expect.stringContains e.Problem "already has a sweep named" "refused, not merged"
                        Expect.throwsT<StoreException> (fun () -> Store.copy source archive "no such sweep") "unknown sweep" |> ignore)))
    ]

// ---- Many processes claiming at once ----

let private claimSweep () = sweepOver "claims" [ 1..50 ]

/// A claiming process (tests/Hybrid.Tests run with `--claimer LOCATION`): claims trials of the
/// claims sweep and finishes each after a moment, printing its key, until none is left.
let claimer (location: string) : int =
    use store = Store.connect location
    let byKey = Sweep.expand (claimSweep ()) |> List.map (fun t -> t.Key, t) |> Map.ofList
    let rec loop () =
        match Store.claimNext store "claims" Worker.current patient with
        | Some c ->
            // A moment of "training", so the processes' claims overlap as real workers' do.
            Threading.Thread.Sleep 10
            if Store.finish store c (resultOf byKey[c.Key] Completed) None then stdout.WriteLine("claimed " + c.Key)
            loop ()
        | None -> ()
    loop ()
    stdout.Flush()
    0

let private testProgram () = Reflection.Assembly.GetExecutingAssembly().Location

/// Runs `count` claiming processes on the store at once; returns every key they reported.
let private claimAtOnce (location: string) (count: int) =
    let start _ =
        let info = ProcessStartInfo("dotnet", RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false)
        [ testProgram (); "--claimer"; location ] |> List.iter info.ArgumentList.Add
        Process.Start info |> nonNull
    let children = List.init count start
    let outputs = children |> List.map (fun c -> c.StandardOutput.ReadToEndAsync(), c.StandardError.ReadToEndAsync())
    for child, (_, errors) in List.zip children outputs do
        child.WaitForExit()
        Expect.equal child.ExitCode 0 (sprintf "a claimer failed: %s" errors.Result)
        child.Dispose()
    outputs |> List.collect (fun (output, _) -> output.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries) |> List.ofArray)

let private concurrencyTests backend =
    testList "concurrent claims" [
        testCase "8 processes claiming 200 trials at once: every trial claimed and finished exactly once" <| fun () ->
            let body (location: string) =
                do
                    use store = Store.connect location
                    let sweep = claimSweep ()
                    Store.register store sweep manifest |> ignore
                    Store.addTrials store sweep.Name (Sweep.expand sweep)
                let reported = claimAtOnce location 8 |> List.map (fun line -> line.Replace("claimed ", ""))
                let keys = Sweep.expand (claimSweep ()) |> List.map _.Key
                Expect.equal (List.sort reported) (List.sort keys) "each of the 200 keys reported once"
                use store = Store.connect location
                let results = Store.results store "claims"
                Expect.allEqual (results |> List.map (fun t -> t.State, t.Attempts)) (TrialState.Finished Completed, 1) "all finished on their first claim"
                Expect.isGreaterThan (results |> List.choose _.Worker |> List.distinct |> List.length) 1 "shared between processes"
            match backend with
            | Backend.Sqlite -> withDir (fun dir -> body (Path.Combine(dir, "claims.db")))
            | Backend.Postgres -> Postgres.withDatabase body
    ]

// ---- Losing the PostgreSQL server ----

/// A store reaching its fresh database through a relay the test can cut, holding the small sweep
/// with its first trial claimed; the body also gets the claim, that trial's first epoch, and the
/// database's direct connection string.
let private withRelayedClaim (retrySeconds: float) (body: Store -> Proxy.Relay -> Claim -> EpochMetrics -> string -> unit) =
    Postgres.withDatabase (fun connectionString ->
        let direct = Npgsql.NpgsqlConnectionStringBuilder connectionString
        let server = Net.IPEndPoint(Net.IPAddress.Parse(nonNull direct.Host), direct.Port)
        use relay = new Proxy.Relay(server)
        let relayed = Npgsql.NpgsqlConnectionStringBuilder(connectionString, Port = relay.Port, Timeout = 2).ConnectionString
        use store = Store.openPostgresRetrying (TimeSpan.FromSeconds retrySeconds) relayed
        let sweep = small ()
        let trials = Sweep.expand sweep
        Store.register store sweep manifest |> ignore
        Store.addTrials store sweep.Name trials
        body store relay (claim store sweep) (historyOf trials.Head 1).Head connectionString)

let private connectionLossTests =
    testList "losing the server" [
        testCase "a worker that loses the server retries with back-off and carries on when it returns" <| fun () ->
            withRelayedClaim 60.0 (fun store relay c epoch _ ->
                relay.Cut()
                let write = Threading.Tasks.Task.Run(fun () -> Store.recordEpochsWithCheckpoint store c [ epoch ] (blob 100 1))
                Threading.Thread.Sleep 1500
                Expect.isFalse write.IsCompleted "still retrying while the server is away"
                relay.Restore()
                Expect.isTrue (write.Wait(TimeSpan.FromSeconds 30.0)) "done once the server is back"
                Expect.isTrue write.Result "the epoch was recorded under the claim"
                Expect.equal (Store.latestCheckpoint store c.Key) (Some(1, blob 100 1)) "and its checkpoint")

        testCase "after the retry bound it gives up with a clear message, and its trial goes to another worker" <| fun () ->
            withRelayedClaim 2.0 (fun store relay c epoch direct ->
                relay.Cut()
                let watch = Diagnostics.Stopwatch.StartNew()
                let e = storeError (fun () -> Store.recordEpochsWithCheckpoint store c [ epoch ] (blob 1 1) |> ignore)
                Expect.stringContains e.Message "could not be reached" "says what happened"
                Expect.stringContains e.Message "giving up" "and that it stopped trying"
                Expect.isFalse (e.Message.Contains(string (Npgsql.NpgsqlConnectionStringBuilder direct).Password)) "never the password"
                Expect.isLessThan watch.Elapsed.TotalSeconds 10.0 "within the 2 s bound, plus one 2 s connection timeout"
                use other = Store.openPostgres direct
                let grace = TimeSpan.FromSeconds 1.0
                Threading.Thread.Sleep grace
                let taken = Store.claimNext other (small ()).Name elsewhere grace |> Option.get
                Expect.equal (taken.Key, taken.Attempt) (c.Key, 2) "another worker takes the trial over")
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
        let c = claim store sweep
        for m in result.History do
            Store.recordEpochsWithCheckpoint store c [ m ] checkpoint |> ignore
        Store.finish store c result None |> ignore
        stdout.WriteLine("finished " + trial.Key)
        stdout.Flush()
    0

let private durabilityTests =
    testList "durability" [
        testCase "a writer killed mid-sweep leaves a sound database with every finished trial intact" <| fun () ->
            withDir (fun dir ->
                let file = Path.Combine(dir, "runs.db")
                let info = ProcessStartInfo("dotnet", RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false)
                [ testProgram (); "--store-writer"; file ] |> List.iter info.ArgumentList.Add
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
                    expectStored t (resultOf byKey[t.Key] Completed)
                let unfinished = Store.results store sweep.Name |> List.filter (fun t -> t.State <> TrialState.Finished Completed)
                Expect.equal (finished.Length + unfinished.Length) byKey.Count "every trial still there")
    ]

let private onBoth (name: string) (tests: Backend -> Test) =
    testList name [ testList "SQLite" [ tests Backend.Sqlite ]; testList "PostgreSQL" [ tests Backend.Postgres ] ]

let tests =
    testList "Store" [
        sqliteOpeningTests
        postgresOpeningTests
        onBoth "sweeps" sweepTests
        onBoth "lifecycle" lifecycleTests
        onBoth "claims" concurrencyTests
        copyTests
        connectionLossTests
        durabilityTests
    ]
