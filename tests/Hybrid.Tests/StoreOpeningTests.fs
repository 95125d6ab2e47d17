/// Opening SQLite files and PostgreSQL databases, and their schema migrations.
module Hybrid.Tests.StoreOpeningTests

open System
open System.Diagnostics
open System.IO
open Expecto
open Microsoft.Data.Sqlite
open Hybrid
open Hybrid.Engine.Training

open Hybrid.Tests.StoreFixtures

// ---- Opening and schema ----

/// A store of `small ()` with its first trial finished (model blob 10 1), as schema 2 tests leave it.
let private finishFirst (store: Store) =
    let sweep = small ()
    let trials = Sweep.expand sweep
    Store.register store sweep manifest |> ignore
    Store.addTrials store sweep.Name trials
    let c = claim store sweep
    Store.finish store c (resultOf trials[0] Completed) (Some(blob 10 1)) |> ignore

/// What a store migrated from schema 2 must show: the finished trial and its model kept, the others
/// pending, and a claimed trial able to pause at a rung (which schema 2 could not record).
let private expectMigrated (store: Store) =
    let sweep = small ()
    let trials = Sweep.expand sweep

    Expect.equal
        (Store.status store trials[0].Key)
        (Some(TrialState.Finished Completed))
        "the finished trial kept its state"

    Expect.equal (Store.model store trials[0].Key) (Some(blob 10 1)) "and its model"

    Expect.equal
        (Store.counts store sweep.Name)
        { Pending = 7; Running = 0; Paused = 0; Finished = 1 }
        "the others are pending"

    let c = claim store sweep
    Expect.isTrue (Store.pause store c [] 1 (blob 10 2) (1, 0.5, 0.75)) "a trial pauses at a rung once migrated"
    Expect.equal (Store.status store c.Key) (Some TrialState.Paused) "paused"

let private sqliteOpeningTests =
    testList "opening a SQLite file" [
        testCase "creates the directory and a WAL database at the current schema version"
        <| fun () ->
            withDir (fun dir ->
                let file = Path.Combine(dir, "nested", "sweep", "runs.db")

                do
                    use store = Store.openAt file
                    Expect.equal store.Location file "full path"
                    Expect.equal store.Backend Backend.Sqlite "backend"

                Expect.isTrue (File.Exists file) "file created"
                use connection = raw file

                Expect.equal
                    (scalar connection "SELECT max(version) FROM schema_version")
                    (string Store.schemaVersion)
                    "schema version"

                Expect.equal (scalar connection "PRAGMA journal_mode") "wal" "journal mode"

                let tables =
                    scalar
                        connection
                        "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name)"

                Expect.equal
                    tables
                    "checkpoints,decisions,definitions,epochs,manifest,models,schema_version,sweep_trials,sweeps,trials,verifications"
                    "tables")

        testCase "reopening keeps the data and migrates nothing again"
        <| fun () ->
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

                Expect.equal
                    (scalar connection "SELECT count(*) FROM schema_version")
                    (string Store.schemaVersion)
                    "one row per migration")

        testCase "a store of schema version 1 is migrated, and its trials' model files still read"
        <| fun () ->
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
                        [
                            "DROP TABLE models"
                            "DROP TABLE decisions"
                            "DROP INDEX trials_status"
                            "ALTER TABLE trials DROP COLUMN until_epoch"
                            "ALTER TABLE trials DROP COLUMN claim"
                            "ALTER TABLE trials DROP COLUMN worker"
                            "ALTER TABLE trials DROP COLUMN heartbeat"
                            "ALTER TABLE trials DROP COLUMN attempts"
                            "DELETE FROM schema_version WHERE version >= 2"
                            sprintf
                                "UPDATE trials SET status = 'completed', model_path = '%s' WHERE key = '%s'"
                                model
                                trials[0].Key
                        ] do
                        scalar connection sql |> ignore

                use store = Store.openAt file

                Expect.equal
                    (Store.model store trials[0].Key)
                    (Some(blob 100 7))
                    "the old model file is the trial's model"

                Expect.equal
                    (Store.counts store sweep.Name)
                    { Pending = 7; Running = 0; Paused = 0; Finished = 1 }
                    "the other trials can be claimed"

                Expect.equal (claim store sweep).Key trials[1].Key "claims work on the migrated store")

        testCase "a store of schema version 2 is migrated: trials keep their rows, and may then pause and be pruned"
        <| fun () ->
            withDir (fun dir ->
                let file = Path.Combine(dir, "runs.db")
                let trials = Sweep.expand (small ())

                do
                    use store = Store.openAt file
                    finishFirst store

                let epochs =
                    // Turn the file back into what Hybrid wrote at schema 2: trials without until_epoch,
                    // whose status CHECK knows no paused or pruned, and no decisions table.
                    use connection = raw file

                    for sql in
                        [
                            "PRAGMA foreign_keys = OFF"
                            """CREATE TABLE trials_v2 (key TEXT PRIMARY KEY, seed INTEGER NOT NULL, settings TEXT NOT NULL,
                               status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'diverged', 'failed')),
                               reason TEXT NOT NULL, stop TEXT, kept_epoch INTEGER, validation_loss REAL, validation_accuracy REAL,
                               test_loss REAL, test_accuracy REAL, seconds REAL, started_utc TEXT, finished_utc TEXT, model_path TEXT,
                               claim TEXT, worker TEXT, heartbeat REAL, attempts INTEGER NOT NULL DEFAULT 0)"""
                            "INSERT INTO trials_v2 SELECT key, seed, settings, status, reason, stop, kept_epoch, validation_loss, validation_accuracy, test_loss, test_accuracy, seconds, started_utc, finished_utc, model_path, claim, worker, heartbeat, attempts FROM trials"
                            "DROP TABLE trials"
                            "ALTER TABLE trials_v2 RENAME TO trials"
                            "CREATE INDEX trials_status ON trials(status)"
                            "DROP TABLE decisions"
                            "DELETE FROM schema_version WHERE version = 3"
                        ] do
                        scalar connection sql |> ignore

                    Expect.throwsC
                        (fun () ->
                            scalar
                                connection
                                (sprintf "UPDATE trials SET status = 'paused' WHERE key = '%s'" trials[1].Key)
                            |> ignore)
                        ignore
                    |> ignore

                    scalar connection "SELECT count(*) FROM epochs"

                use store = Store.openAt file

                do
                    use connection = raw file
                    Expect.equal (scalar connection "SELECT count(*) FROM epochs") epochs "epochs kept"
                    Expect.equal (scalar connection "PRAGMA foreign_key_check") "" "every reference still resolves"

                expectMigrated store)

        testCase "a newer schema version is refused, naming the file and both versions"
        <| fun () ->
            withDir (fun dir ->
                let file = Path.Combine(dir, "runs.db")
                (Store.openAt file :> IDisposable).Dispose()

                do
                    use connection = raw file

                    scalar connection "INSERT INTO schema_version (version, applied_utc) VALUES (99, 'later')"
                    |> ignore

                let e = storeError (fun () -> Store.openAt file |> ignore)
                Expect.equal e.Store file "file"
                Expect.stringContains e.Message "version 99" "found version"
                Expect.stringContains e.Message (sprintf "up to version %d" Store.schemaVersion) "supported version")

        testCase "a file that is not a SQLite database is refused and left as it was"
        <| fun () ->
            withDir (fun dir ->
                Directory.CreateDirectory dir |> ignore
                let file = Path.Combine(dir, "iris.csv")
                File.WriteAllText(file, "5.1,3.5,1.4,0.2,setosa\n")
                let e: InvalidFileException = Common.raised (fun () -> Store.openAt file |> ignore)
                Expect.equal e.File file "names the file"
                Expect.equal (File.ReadAllText file) "5.1,3.5,1.4,0.2,setosa\n" "file untouched")

        testCase "a SQLite database of another program is refused"
        <| fun () ->
            withDir (fun dir ->
                Directory.CreateDirectory dir |> ignore
                let file = Path.Combine(dir, "other.db")

                do
                    use connection = raw file
                    scalar connection "CREATE TABLE accounts (id INTEGER)" |> ignore

                let e = storeError (fun () -> Store.openAt file |> ignore)
                Expect.stringContains e.Problem "not a Hybrid run store" "says why")

        testCase "a location with Host= opens PostgreSQL; anything else is a SQLite file"
        <| fun () ->
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
        testCase "creates the schema; the location names user, server and database but never the password"
        <| fun () ->
            Postgres.withDatabase (fun connectionString ->
                do
                    use store = Store.connect connectionString
                    Expect.equal store.Backend Backend.Postgres "backend"
                    let builder = Npgsql.NpgsqlConnectionStringBuilder connectionString

                    Expect.equal
                        store.Location
                        (sprintf "postgresql://%s@%s:%d/%s" builder.Username builder.Host builder.Port builder.Database)
                        "location"

                    Expect.isFalse (store.Location.Contains(string builder.Password)) "no password"

                Expect.equal
                    (Postgres.scalar connectionString "SELECT max(version) FROM schema_version"
                     |> string)
                    (string Store.schemaVersion)
                    "schema version"

                use again = Store.connect connectionString

                Expect.equal
                    (Postgres.scalar connectionString "SELECT count(*) FROM schema_version" |> string)
                    (string Store.schemaVersion)
                    "migrated once")

        testCase "a database of schema version 2 is migrated: trials keep their rows, and may then pause and be pruned"
        <| fun () ->
            Postgres.withDatabase (fun connectionString ->
                let trials = Sweep.expand (small ())

                do
                    use store = Store.connect connectionString
                    finishFirst store

                // Turn the database back into what Hybrid wrote at schema 2: no until_epoch, a status
                // CHECK that knows no paused or pruned, and no decisions table.
                for sql in
                    [
                        "DROP TABLE decisions"
                        "ALTER TABLE trials DROP COLUMN until_epoch"
                        "ALTER TABLE trials DROP CONSTRAINT trials_status_check"
                        "ALTER TABLE trials ADD CONSTRAINT trials_status_check CHECK (status IN ('pending', 'running', 'completed', 'diverged', 'failed'))"
                        "DELETE FROM schema_version WHERE version = 3"
                    ] do
                    Postgres.scalar connectionString sql |> ignore

                let epochs =
                    Postgres.scalar connectionString "SELECT count(*) FROM epochs" |> string

                Expect.throwsC
                    (fun () ->
                        Postgres.scalar
                            connectionString
                            (sprintf "UPDATE trials SET status = 'paused' WHERE key = '%s'" trials[1].Key)
                        |> ignore)
                    ignore
                |> ignore

                use store = Store.connect connectionString

                Expect.equal
                    (Postgres.scalar connectionString "SELECT max(version) FROM schema_version"
                     |> string)
                    (string Store.schemaVersion)
                    "migrated to the current version"

                Expect.equal
                    (Postgres.scalar connectionString "SELECT count(*) FROM epochs" |> string)
                    epochs
                    "epochs kept"

                expectMigrated store)

        testCase "a newer schema version is refused with both versions"
        <| fun () ->
            Postgres.withDatabase (fun connectionString ->
                (Store.connect connectionString :> IDisposable).Dispose()

                Postgres.scalar
                    connectionString
                    "INSERT INTO schema_version (version, applied_utc) VALUES (99, 'later')"
                |> ignore

                let e = storeError (fun () -> Store.connect connectionString |> ignore)
                Expect.stringContains e.Message "version 99" "found version"
                Expect.stringContains e.Message (sprintf "up to version %d" Store.schemaVersion) "supported version")

        testCase "another application's tables named like the store's are refused; other tables are left alone"
        <| fun () ->
            Postgres.withDatabase (fun connectionString ->
                Postgres.scalar connectionString "CREATE TABLE invoices (id INTEGER)" |> ignore
                (Store.connect connectionString :> IDisposable).Dispose()

                Postgres.withDatabase (fun other ->
                    Postgres.scalar other "CREATE TABLE trials (id INTEGER)" |> ignore
                    let e = storeError (fun () -> Store.connect other |> ignore)
                    Expect.stringContains e.Problem "not a Hybrid run store" "says why"))

        testCase "a wrong password or a missing database is refused at once, naming the store but not the password"
        <| fun () ->
            Postgres.withDatabase (fun connectionString ->
                let wrong =
                    Npgsql.NpgsqlConnectionStringBuilder(connectionString, Password = "not-the-password-42")

                let e = storeError (fun () -> Store.connect wrong.ConnectionString |> ignore)
                Expect.stringContains e.Problem "the server refused: password authentication failed" "says why"
                Expect.isFalse (e.Message.Contains "not-the-password-42") "never the password"

                let missing =
                    Npgsql.NpgsqlConnectionStringBuilder(connectionString, Database = "no_such_database")

                let e = storeError (fun () -> Store.connect missing.ConnectionString |> ignore)
                Expect.stringContains e.Message "no_such_database" "names the database"
                Expect.stringContains e.Problem "does not exist" "says why")

        testCase "a server that cannot be reached is given up after the retry bound, with a clear message"
        <| fun () ->
            let watch = Diagnostics.Stopwatch.StartNew()
            // Port 1 on the loopback refuses at once: nothing listens there.
            let location = "Host=127.0.0.1;Port=1;Username=u;Password=secret-42;Database=d"

            let e =
                storeError (fun () -> Store.openPostgresRetrying (TimeSpan.FromSeconds 1.0) location |> ignore)

            Expect.stringContains e.Message "could not be reached" "says what happened"
            Expect.stringContains e.Message "postgresql://u@127.0.0.1:1/d" "names the store"
            Expect.isFalse (e.Message.Contains "secret-42") "never the password"
            Expect.isLessThan watch.Elapsed.TotalSeconds 10.0 "bounded: 1 s of retries"
    ]

let tests = testList "Store" [ sqliteOpeningTests; postgresOpeningTests ]
