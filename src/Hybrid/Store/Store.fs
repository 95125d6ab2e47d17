namespace Hybrid

open System
open System.Globalization
open System.IO
open System.Text
open System.Text.Json
open System.Data.Common
open Microsoft.Data.Sqlite
open Npgsql
open Hybrid.Engine.Training

/// The run store: SQLite (a file, WAL) for one machine, or PostgreSQL shared by workers on many.
/// Every write is one transaction, so a process killed at any point leaves a valid store holding
/// every committed trial; workers claim trials atomically and prove they are alive by heartbeats.
[<RequireQualifiedAccess; CompilationRepresentation(CompilationRepresentationFlags.ModuleSuffix)>]
module Store =

    /// The newest schema this library reads and writes.
    let schemaVersion = StoreSchema.version

    let private transaction writing store work = Sql.transaction writing store work

    /// A SQLite write the disk refuses (full, read-only) becomes a FileWriteException naming the file.
    let private writing (store: Store) work =
        match store.Backend with
        | Backend.Sqlite -> SqliteFaults.explaining store.Location (fun () -> transaction true store work)
        | Backend.Postgres -> transaction true store work

    let private reading store work = transaction false store work
    let private execute = Sql.execute
    let private query = Sql.query

    // ---- Encodings ----

    let private parseStatus (text: string) =
        match TrialState.ofName text with
        | Some state -> state
        | None -> failwithf "unknown trial status '%s'" text

    let private valuesJson (values: (Setting * Value) list) =
        use buffer = new MemoryStream()

        do
            use writer = new Utf8JsonWriter(buffer)
            writer.WriteStartArray()

            for setting, value in values do
                writer.WriteStartArray()
                writer.WriteStringValue(Setting.name setting)
                writer.WriteStringValue(Value.format value)
                writer.WriteEndArray()

            writer.WriteEndArray()

        Encoding.UTF8.GetString(buffer.ToArray())

    /// The varied settings' values, taken from the trial's typed settings: the stored JSON is read
    /// for the settings' names only (its formatted values are for people reading the database).
    let private parseValues (settings: Settings) (json: string) : (Setting * Value) list =
        use document = JsonDocument.Parse json

        [
            for pair in document.RootElement.EnumerateArray() ->
                let name = pair[0].GetString() |> Option.ofObj |> Option.defaultValue ""

                match Setting.ofName name with
                | Some setting -> setting, Setting.read setting settings
                | None -> failwithf "unknown setting '%s'" name
        ]

    // ---- Opening ----

    /// Opens the SQLite store at a path, creating the directory and the database if missing and
    /// bringing an older schema up to date. A file that is not a SQLite database is refused with an
    /// InvalidFileException; one that is not a run store, or has a newer schema, with a StoreException.
    let openAt (path: string) : Store = StoreOpening.openAt path

    /// Opens a PostgreSQL store from an Npgsql connection string, retrying a lost server for `retryFor`
    /// before an operation gives up.
    let openPostgresRetrying (retryFor: TimeSpan) (connectionString: string) : Store =
        StoreOpening.openPostgresRetrying retryFor connectionString

    /// Opens a PostgreSQL store from an Npgsql connection string (`Host=…;Database=…;Username=…`).
    let openPostgres (connectionString: string) : Store = StoreOpening.openPostgres connectionString

    /// Opens a store by its location: a PostgreSQL connection string (anything with `Host=`), or else
    /// the path of a SQLite file.
    let connect (location: string) : Store = StoreOpening.connect location

    /// Opens a store by its location (as `connect`) so that nothing can write through it: a SQLite
    /// file read-only (never created), a PostgreSQL session whose transactions are all read-only. Its
    /// schema must be this library's. A lost PostgreSQL server is retried for `retryFor` per operation.
    let openReadOnly (retryFor: TimeSpan) (location: string) : Store = StoreOpening.openReadOnly retryFor location

    // ---- Sweeps ----

    let private unfinishedUnder tx (sweepName: string) (hash: string) =
        query
            tx
            """SELECT count(*) FROM sweep_trials s JOIN trials t ON t.key = s.key
               WHERE s.sweep = @sweep AND s.definition_hash = @hash AND t.status IN ('pending', 'running', 'paused')"""
            [ "@sweep", box sweepName; "@hash", box hash ]
            (fun r -> Sql.int32 r 0)
        |> List.head

    /// Whether the trials registered under a definition are exactly the sweep's: then the two are one
    /// sweep whose hash was taken another way (as by a store registered before the hash's text form
    /// changed), and no results can mix.
    let private sameTrials tx (sweep: Sweep) (previous: string) =
        let registered =
            query
                tx
                "SELECT key FROM sweep_trials WHERE sweep = @sweep AND definition_hash = @hash"
                [ "@sweep", box sweep.Name; "@hash", box previous ]
                (fun r -> r.GetString 0)

        Set.ofList registered = (Sweep.expand sweep |> List.map _.Key |> Set.ofList)

    /// Refuses a second definition under a name whose current one still has trials to run: workers on
    /// other machines may be running it, and mixing two sweeps' results under one name would go unseen.
    let private refuseWhileUnfinished (store: Store) tx (sweep: Sweep) (previous: string) (hash: string) =
        let unfinished = unfinishedUnder tx sweep.Name previous

        if previous <> hash && unfinished > 0 && not (sameTrials tx sweep previous) then
            let problem =
                sprintf
                    "sweep '%s' is registered with another definition (hash %s, %d trials not finished); this one has hash %s. Finish the registered sweep, or give this one another name."
                    sweep.Name
                    previous
                    unfinished
                    hash

            raise (StoreException(store.Location, problem))

    let private replaceManifest tx (name: objnull) (manifest: (string * string) list) =
        execute tx "DELETE FROM manifest WHERE sweep = @name" [ "@name", name ]
        |> ignore

        manifest
        |> List.iteri (fun i (key, value) ->
            execute tx "INSERT INTO manifest (sweep, key, value, position) VALUES (@name, @key, @value, @position)" [
                "@name", name
                "@key", box key
                "@value", box value
                "@position", box i
            ]
            |> ignore)

    /// Records a sweep and its reproducibility manifest. The first registration inserts it; the same
    /// definition again only replaces the notes and the manifest. A changed definition (same name,
    /// another hash) is refused while the current one has unfinished trials, unless those trials are
    /// exactly the new definition's (the same sweep, hashed another way); once it is finished, the
    /// new one is accepted — its trials keep their results and `addTrials` adds only the new ones —
    /// and becomes current, with every earlier definition kept in the history.
    let register (store: Store) (sweep: Sweep) (manifest: (string * string) list) : Registration =
        match manifest |> List.countBy fst |> List.filter (fun (_, n) -> n > 1) with
        | [] -> ()
        | repeated ->
            invalidArg
                (nameof manifest)
                (sprintf "manifest keys appear more than once: %s" (repeated |> List.map fst |> String.concat ", "))

        let hash = Sweep.definitionHash sweep
        let definition = Sweep.print sweep + "base: " + Sweep.describe sweep.Base
        let name = box sweep.Name

        writing store (fun tx ->
            Sql.serialize tx

            let previous =
                query tx "SELECT definition_hash FROM sweeps WHERE name = @name" [ "@name", name ] (fun r ->
                    r.GetString 0)

            let stamp = box (Sql.now ())

            match previous with
            | [] ->
                execute
                    tx
                    "INSERT INTO sweeps (name, definition_hash, definition, notes, created_utc) VALUES (@name, @hash, @definition, @notes, @now)"
                    [
                        "@name", name
                        "@hash", box hash
                        "@definition", box definition
                        "@notes", box sweep.Notes
                        "@now", stamp
                    ]
                |> ignore
            | old :: _ ->
                refuseWhileUnfinished store tx sweep old hash

                execute
                    tx
                    "UPDATE sweeps SET definition_hash = @hash, definition = @definition, notes = @notes WHERE name = @name"
                    [
                        "@name", name
                        "@hash", box hash
                        "@definition", box definition
                        "@notes", box sweep.Notes
                    ]
                |> ignore

            execute
                tx
                "INSERT INTO definitions (sweep, definition_hash, definition, registered_utc) VALUES (@name, @hash, @definition, @now) ON CONFLICT DO NOTHING"
                [
                    "@name", name
                    "@hash", box hash
                    "@definition", box definition
                    "@now", stamp
                ]
            |> ignore

            replaceManifest tx name manifest

            match previous with
            | [] -> Registration.New
            | [ old ] when old = hash -> Registration.Unchanged
            | old :: _ -> Registration.Changed old)

    /// The sweep registered under a name, if any.
    let sweep (store: Store) (name: string) : StoredSweep option =
        reading store (fun tx ->
            let history =
                query
                    tx
                    "SELECT definition_hash, registered_utc FROM definitions WHERE sweep = @name ORDER BY registered_utc, definition_hash"
                    [ "@name", box name ]
                    (fun r -> r.GetString 0, Sql.parseTime (r.GetString 1))

            query
                tx
                "SELECT name, definition_hash, definition, notes, created_utc FROM sweeps WHERE name = @name"
                [ "@name", box name ]
                (fun r -> {
                    Name = r.GetString 0
                    DefinitionHash = r.GetString 1
                    Definition = r.GetString 2
                    Notes = r.GetString 3
                    CreatedUtc = Sql.parseTime (r.GetString 4)
                    History = history
                })
            |> List.tryHead)

    /// The names of the sweeps the store holds, in order.
    let sweepNames (store: Store) : string list =
        reading store (fun tx -> query tx "SELECT name FROM sweeps ORDER BY name" [] (fun r -> r.GetString 0))

    /// The manifest recorded by the sweep's latest registration, in its order.
    let manifest (store: Store) (sweepName: string) : (string * string) list =
        reading store (fun tx ->
            query
                tx
                "SELECT key, value FROM manifest WHERE sweep = @sweep ORDER BY position"
                [ "@sweep", box sweepName ]
                (fun r -> r.GetString 0, r.GetString 1))

    // ---- Trials ----

    /// Adds a trial as pending (to train up to `until`, or to the end), unless the store has it, and
    /// puts it in the sweep at `position` under the definition with `definitionHash`.
    let private insertTrial
        tx
        (sweepName: string)
        (definitionHash: string)
        (position: int)
        (trial: Trial)
        (until: int option)
        =
        let key = box trial.Key

        execute
            tx
            "INSERT INTO trials (key, seed, settings, status, reason, until_epoch) VALUES (@key, @seed, @settings, 'pending', '', @until) ON CONFLICT DO NOTHING"
            [
                "@key", key
                "@seed", box (int64 trial.Seed)
                "@settings", box (Sweep.describe trial.Settings)
                "@until", Sql.nullable until
            ]
        |> ignore

        execute
            tx
            """INSERT INTO sweep_trials (sweep, key, configuration, position, values_json, definition_hash)
               VALUES (@sweep, @key, @configuration, @position, @values, @hash)
               ON CONFLICT (sweep, key) DO UPDATE SET configuration = excluded.configuration, position = excluded.position,
                   values_json = excluded.values_json, definition_hash = excluded.definition_hash"""
            [
                "@sweep", box sweepName
                "@key", key
                "@configuration", box trial.Configuration
                "@position", box position
                "@values", box (valuesJson trial.Values)
                "@hash", box definitionHash
            ]
        |> ignore

    /// Adds the trials (normally the sweep's whole expansion) as pending, in one transaction. A trial
    /// already in the store keeps its state and results; only its place in the sweep (configuration
    /// index, values, definition) is brought up to date, so a changed sweep adds only the new trials.
    let addTrials (store: Store) (sweepName: string) (trials: Trial list) =
        writing store (fun tx ->
            Sql.serialize tx

            let definitionHash =
                match
                    query
                        tx
                        "SELECT definition_hash FROM sweeps WHERE name = @name"
                        [ "@name", box sweepName ]
                        (fun r -> r.GetString 0)
                with
                | hash :: _ -> hash
                | [] ->
                    invalidArg
                        (nameof sweepName)
                        (sprintf
                            "sweep '%s' is not registered in %s: call Store.register first"
                            sweepName
                            store.Location)

            trials
            |> List.iteri (fun position trial -> insertTrial tx sweepName definitionHash position trial None))

    /// The trial's state, or None if the store does not have it.
    let status (store: Store) (key: string) : TrialState option =
        reading store (fun tx ->
            query tx "SELECT status FROM trials WHERE key = @key" [ "@key", box key ] (fun r ->
                parseStatus (r.GetString 0))
            |> List.tryHead)

    /// Keys of the sweep's finished trials — completed, diverged or failed — which a resumed sweep
    /// skips. A failed trial runs again only after `resetFailed`.
    let completedKeys (store: Store) (sweepName: string) : Set<string> =
        reading store (fun tx ->
            query
                tx
                "SELECT t.key FROM trials t JOIN sweep_trials s ON s.key = t.key WHERE s.sweep = @sweep AND t.status IN ('completed', 'diverged', 'failed')"
                [ "@sweep", box sweepName ]
                (fun r -> r.GetString 0)
            |> Set.ofList)

    /// How many of the sweep's current trials are pending, running and finished.
    let counts (store: Store) (sweepName: string) : SweepCounts =
        reading store (fun tx ->
            let byStatus =
                query
                    tx
                    """SELECT t.status, count(*) FROM sweep_trials s JOIN sweeps w ON w.name = s.sweep JOIN trials t ON t.key = s.key
                       WHERE s.sweep = @sweep AND s.definition_hash = w.definition_hash GROUP BY t.status"""
                    [ "@sweep", box sweepName ]
                    (fun r -> parseStatus (r.GetString 0), Sql.int32 r 1)

            let sum keep = byStatus |> List.sumBy (fun (state, n) -> if keep state then n else 0)

            {
                Pending = sum ((=) TrialState.Pending)
                Running = sum ((=) TrialState.Running)
                Paused = sum ((=) TrialState.Paused)
                Finished =
                    sum (function
                        | TrialState.Finished _ -> true
                        | _ -> false)
            })

    let private clearResults =
        """
        status = 'pending', reason = '', stop = NULL, kept_epoch = NULL, validation_loss = NULL, validation_accuracy = NULL,
        test_loss = NULL, test_accuracy = NULL, seconds = NULL, started_utc = NULL, finished_utc = NULL, model_path = NULL,
        claim = NULL, worker = NULL, heartbeat = NULL, until_epoch = NULL"""

    /// Makes the sweep's failed trials pending again (results, epochs and checkpoints cleared), so the
    /// next run retries them; returns how many.
    let resetFailed (store: Store) (sweepName: string) : int =
        writing store (fun tx ->
            let failed =
                "SELECT t.key FROM trials t JOIN sweep_trials s ON s.key = t.key WHERE s.sweep = @sweep AND t.status = 'failed'"

            let sweep = [ "@sweep", box sweepName ]
            execute tx $"DELETE FROM epochs WHERE trial_key IN ({failed})" sweep |> ignore

            execute tx $"DELETE FROM checkpoints WHERE trial_key IN ({failed})" sweep
            |> ignore

            execute tx $"DELETE FROM models WHERE trial_key IN ({failed})" sweep |> ignore
            execute tx $"UPDATE trials SET {clearResults} WHERE key IN ({failed})" sweep)

    // ---- Claims ----

    /// Expires the claims of this machine's workers whose process has ended, so they are taken over now.
    let private releaseDeadHere tx (sweepName: string) =
        query
            tx
            """SELECT t.key, t.worker FROM trials t JOIN sweep_trials s ON s.key = t.key
               WHERE s.sweep = @sweep AND t.status = 'running' AND t.worker IS NOT NULL"""
            [ "@sweep", box sweepName ]
            (fun r -> r.GetString 0, r.GetString 1)
        |> List.filter (snd >> Worker.isDeadHere)
        |> List.iter (fun (key, worker) ->
            execute tx "UPDATE trials SET heartbeat = NULL WHERE key = @key AND worker = @worker" [
                "@key", box key
                "@worker", box worker
            ]
            |> ignore)

    /// Takes the first claimable trial of the sweep's current definition: pending, or running under a
    /// claim whose heartbeat is older than `grace` (its worker presumed dead). PostgreSQL's SKIP LOCKED
    /// lets concurrent claims pass each other; the status test is repeated under the row lock.
    let private claimFirst tx (sweepName: string) (worker: string) (grace: TimeSpan) =
        query
            tx
            """UPDATE trials SET status = 'running', claim = @claim, worker = @worker, heartbeat = {now}, started_utc = @now,
                   attempts = attempts + 1
               WHERE key = (SELECT t.key FROM trials t JOIN sweep_trials s ON s.key = t.key JOIN sweeps w ON w.name = s.sweep
                            WHERE s.sweep = @sweep AND s.definition_hash = w.definition_hash
                              AND (t.status = 'pending' OR (t.status = 'running' AND (t.heartbeat IS NULL OR t.heartbeat < {now} - @grace)))
                            ORDER BY s.configuration, s.position LIMIT 1 {skip locked})
                 AND (status = 'pending' OR (status = 'running' AND (heartbeat IS NULL OR heartbeat < {now} - @grace)))
               RETURNING key, claim, attempts, until_epoch"""
            [
                "@sweep", box sweepName
                "@claim", box (Guid.NewGuid().ToString "N")
                "@worker", box worker
                "@now", box (Sql.now ())
                "@grace", box grace.TotalSeconds
            ]
            (fun r -> r.GetString 0, r.GetString 1, Sql.int32 r 2, Sql.readInt r 3)
        |> List.tryHead

    /// Claims the next trial of the sweep for `worker` (see `Worker.current`), or None when no trial is
    /// claimable now. The epochs recorded after the trial's checkpoint (all, without one) are dropped:
    /// it resumes from that checkpoint and records them again.
    let claimNext (store: Store) (sweepName: string) (worker: string) (grace: TimeSpan) : Claim option =
        writing store (fun tx ->
            releaseDeadHere tx sweepName

            claimFirst tx sweepName worker grace
            |> Option.map (fun (key, token, attempt, until) ->
                let checkpoint =
                    query
                        tx
                        "SELECT epoch, state FROM checkpoints WHERE trial_key = @key"
                        [ "@key", box key ]
                        (fun r -> Sql.int32 r 0, r.GetFieldValue<byte[]> 1)
                    |> List.tryHead

                let kept = checkpoint |> Option.map fst |> Option.defaultValue 0

                execute tx "DELETE FROM epochs WHERE trial_key = @key AND epoch > @kept" [
                    "@key", box key
                    "@kept", box kept
                ]
                |> ignore

                {
                    Key = key
                    Token = token
                    Attempt = attempt
                    Checkpoint = checkpoint
                    Until = until
                }))

    /// Refreshes the heartbeat of one claim; false if the claim is no longer the trial's.
    let private beat tx (claim: Claim) =
        let changed =
            execute tx "UPDATE trials SET heartbeat = {now} WHERE key = @key AND claim = @claim AND status = 'running'" [
                "@key", box claim.Key
                "@claim", box claim.Token
            ]

        changed = 1

    /// Proves the claims' workers alive; returns the claims that were lost (taken over by another worker).
    let heartbeat (store: Store) (claims: Claim list) : Claim list =
        if claims.IsEmpty then
            []
        else
            writing store (fun tx -> claims |> List.filter (beat tx >> not))

    let private insertEpoch tx (key: string) (m: EpochMetrics) =
        execute
            tx
            """INSERT INTO epochs (trial_key, epoch, train_loss, train_accuracy, validation_loss, validation_accuracy, learning_rate)
               VALUES (@key, @epoch, @trainLoss, @trainAccuracy, @validationLoss, @validationAccuracy, @learningRate)
               ON CONFLICT (trial_key, epoch) DO UPDATE SET train_loss = excluded.train_loss, train_accuracy = excluded.train_accuracy,
                   validation_loss = excluded.validation_loss, validation_accuracy = excluded.validation_accuracy,
                   learning_rate = excluded.learning_rate"""
            [
                "@key", box key
                "@epoch", box m.Epoch
                "@trainLoss", Sql.real tx m.TrainLoss
                "@trainAccuracy", Sql.real tx m.TrainAccuracy
                "@validationLoss", Sql.realOrNull tx m.ValidationLoss
                "@validationAccuracy", Sql.realOrNull tx m.ValidationAccuracy
                "@learningRate", Sql.real tx m.LearningRate
            ]
        |> ignore

    let private saveCheckpoint tx (key: string) (epochs: EpochMetrics list) (epoch: int) (state: byte[]) =
        epochs |> List.iter (insertEpoch tx key)

        execute
            tx
            """INSERT INTO checkpoints (trial_key, epoch, state) VALUES (@key, @epoch, @state)
               ON CONFLICT (trial_key) DO UPDATE SET epoch = excluded.epoch, state = excluded.state"""
            [ "@key", box key; "@epoch", box epoch; "@state", box state ]
        |> ignore

    /// Records epochs and the checkpoint after the last of them in one transaction (never an epoch
    /// without a checkpoint to resume after it), refreshing the heartbeat. False, and nothing
    /// recorded, if the claim was lost.
    let recordEpochsWithCheckpoint (store: Store) (claim: Claim) (epochs: EpochMetrics list) (state: byte[]) : bool =
        if epochs.IsEmpty then
            invalidArg (nameof epochs) "a checkpoint comes after at least one epoch"

        writing store (fun tx ->
            let held = beat tx claim

            if held then
                saveCheckpoint tx claim.Key epochs (List.last epochs).Epoch state

            held)

    /// Records that a trial reached the epoch it was to stop at (its rung): the epochs since its last
    /// checkpoint, the checkpoint there, and the figures of the epoch it keeps so far (`kept`,
    /// validation loss and accuracy). It waits, paused, for the rung's decision. False, and nothing
    /// recorded, if the claim was lost.
    let pause
        (store: Store)
        (claim: Claim)
        (epochs: EpochMetrics list)
        (epoch: int)
        (state: byte[])
        (kept: int, validationLoss: float, validationAccuracy: float)
        : bool =
        writing store (fun tx ->
            let held = beat tx claim

            if held then
                saveCheckpoint tx claim.Key epochs epoch state

                execute
                    tx
                    """UPDATE trials SET status = 'paused', heartbeat = NULL, kept_epoch = @kept, validation_loss = @loss,
                           validation_accuracy = @accuracy WHERE key = @key"""
                    [
                        "@key", box claim.Key
                        "@kept", box kept
                        "@loss", Sql.real tx validationLoss
                        "@accuracy", Sql.real tx validationAccuracy
                    ]
                |> ignore

            held)

    /// The trial's latest checkpoint (epoch, state), if it has one.
    let latestCheckpoint (store: Store) (key: string) : (int * byte[]) option =
        reading store (fun tx ->
            query tx "SELECT epoch, state FROM checkpoints WHERE trial_key = @key" [ "@key", box key ] (fun r ->
                Sql.int32 r 0, r.GetFieldValue<byte[]> 1)
            |> List.tryHead)

    /// Records a finished trial in one transaction: status, reason, final metrics, the model (a
    /// safetensors file's bytes) and the result's history (replacing the epochs recorded along the
    /// way); its checkpoint is deleted. False, and nothing recorded, if the claim was lost: a trial
    /// is recorded finished once, by the worker holding it.
    let finish (store: Store) (claim: Claim) (result: TrialResult) (model: byte[] option) : bool =
        let key = box claim.Key

        writing store (fun tx ->
            let changed =
                execute
                    tx
                    """UPDATE trials SET status = @status, reason = @reason, stop = @stop, kept_epoch = @kept,
                           validation_loss = @validationLoss, validation_accuracy = @validationAccuracy,
                           test_loss = @testLoss, test_accuracy = @testAccuracy, seconds = @seconds,
                           finished_utc = @now, heartbeat = NULL
                       WHERE key = @key AND claim = @claim AND status = 'running'"""
                    [
                        "@key", key
                        "@claim", box claim.Token
                        "@status", box (TrialState.name (TrialState.Finished result.Status))
                        "@reason", box result.Reason
                        "@stop", box (string result.Stop)
                        "@kept", box result.KeptEpoch
                        "@validationLoss", Sql.real tx result.ValidationLoss
                        "@validationAccuracy", Sql.real tx result.ValidationAccuracy
                        "@testLoss", Sql.real tx result.TestLoss
                        "@testAccuracy", Sql.real tx result.TestAccuracy
                        "@seconds", Sql.real tx result.Seconds
                        "@now", box (Sql.now ())
                    ]

            if changed = 1 then
                execute tx "DELETE FROM epochs WHERE trial_key = @key" [ "@key", key ] |> ignore

                for m in result.History do
                    insertEpoch tx claim.Key m

                execute tx "DELETE FROM checkpoints WHERE trial_key = @key" [ "@key", key ]
                |> ignore

                model
                |> Option.iter (fun bytes ->
                    execute
                        tx
                        "INSERT INTO models (trial_key, state) VALUES (@key, @state) ON CONFLICT (trial_key) DO UPDATE SET state = excluded.state"
                        [ "@key", key; "@state", box bytes ]
                    |> ignore)

            changed = 1)

    /// The finished trial's model as safetensors bytes: from the store, or for a trial finished by
    /// Hybrid 0.1 (schema 1), from the file it recorded.
    let model (store: Store) (key: string) : byte[] option =
        let stored, path =
            reading store (fun tx ->
                query
                    tx
                    "SELECT m.state, t.model_path FROM trials t LEFT JOIN models m ON m.trial_key = t.key WHERE t.key = @key"
                    [ "@key", box key ]
                    (fun r -> (if r.IsDBNull 0 then None else Some(r.GetFieldValue<byte[]> 0)), Sql.readText r 1)
                |> List.tryHead
                |> Option.defaultValue (None, None))

        match stored, path with
        | Some bytes, _ -> Some bytes
        | None, Some file when File.Exists file -> Some(File.ReadAllBytes file)
        | _ -> None

    let private readEpoch (r: DbDataReader) =
        let value i = Sql.readReal r i |> Option.defaultValue nan

        let optional i = Sql.readReal r i |> Option.toNullable
        r.GetString 0, EpochMetrics(Sql.int32 r 1, value 2, value 3, optional 4, optional 5, value 6)

    let private readTrial (store: Store) (epochs: Map<string, EpochMetrics list>) (r: DbDataReader) =
        let key = r.GetString 0

        let settings =
            Sweep.parseSettings store.Location (sprintf "trial %s" key) (r.GetString 3)

        let state = parseStatus (r.GetString 5)

        let finished =
            (match state with
             | TrialState.Finished _ -> true
             | _ -> false)
        // A finished trial's missing figure reads as NaN; an unfinished trial has none.
        let final i = if finished then Some(Sql.readReal r i |> Option.defaultValue nan) else None

        {
            Key = key
            Configuration = Sql.int32 r 1
            Seed = uint64 (r.GetInt64 2)
            Settings = settings
            Values = parseValues settings (r.GetString 4)
            State = state
            Reason = r.GetString 6
            Stop = Sql.readText r 7 |> Option.map (fun s -> Enum.Parse<StopReason> s)
            KeptEpoch = Sql.readInt r 8
            ValidationLoss = final 9
            ValidationAccuracy = final 10
            TestLoss = final 11
            TestAccuracy = final 12
            Seconds = final 13
            StartedUtc = Sql.readText r 14 |> Option.map Sql.parseTime
            FinishedUtc = Sql.readText r 15 |> Option.map Sql.parseTime
            Attempts = Sql.int32 r 16
            Worker = Sql.readText r 17
            DefinitionHash = r.GetString 18
            History = epochs |> Map.tryFind key |> Option.defaultValue []
        }

    /// Reads a row whose first column is a trial's key. A value the store cannot have written (a
    /// damaged or hand-edited database) is an InvalidFileException naming the store and the trial.
    let private ofTrialRow (store: Store) (read: DbDataReader -> 'a) (r: DbDataReader) : 'a =
        try
            read r
        with
        | :? JsonException
        | :? FormatException
        | :? ArgumentException
        | :? InvalidOperationException
        | :? InvalidCastException
        | :? IndexOutOfRangeException
        | :? OverflowException
        | Failure _ as e ->
            raise (
                InvalidFileException(
                    store.Location,
                    sprintf "trial %O" (r.GetValue 0),
                    sprintf "unreadable stored value (%s)" e.Message
                )
            )

    let private resultsIn (store: Store) tx (sweepName: string) : StoredTrial list =
        let sweep = [ "@sweep", box sweepName ]

        let epochs =
            query
                tx
                """SELECT e.trial_key, e.epoch, e.train_loss, e.train_accuracy, e.validation_loss, e.validation_accuracy, e.learning_rate
                   FROM epochs e JOIN sweep_trials s ON s.key = e.trial_key WHERE s.sweep = @sweep ORDER BY e.trial_key, e.epoch"""
                sweep
                (ofTrialRow store readEpoch)
            |> List.groupBy fst
            |> Map.ofList
            |> Map.map (fun _ rows -> List.map snd rows)

        query
            tx
            """SELECT t.key, s.configuration, t.seed, t.settings, s.values_json, t.status, t.reason, t.stop, t.kept_epoch,
                      t.validation_loss, t.validation_accuracy, t.test_loss, t.test_accuracy, t.seconds,
                      t.started_utc, t.finished_utc, t.attempts, t.worker, s.definition_hash
               FROM sweep_trials s JOIN trials t ON t.key = s.key WHERE s.sweep = @sweep ORDER BY s.configuration, s.position"""
            sweep
            (ofTrialRow store (readTrial store epochs))

    /// Every trial of the sweep, by configuration and then in expansion order, with its epochs.
    let results (store: Store) (sweepName: string) : StoredTrial list =
        reading store (fun tx -> resultsIn store tx sweepName)

    // ---- Adaptive search ----

    let private progressOf (t: StoredTrial) =
        match t.State with
        | TrialState.Pending
        | TrialState.Running -> TrialProgress.Waiting
        | TrialState.Paused -> TrialProgress.AtRung t.History
        | TrialState.Finished status -> TrialProgress.Ended(status, t.History)

    let private recordDecision tx (sweepName: string) (hash: string) (decision: Decision) =
        let batch, rung = Decision.position decision

        execute
            tx
            """INSERT INTO decisions (sweep, definition_hash, batch, rung, detail, decided_utc)
               VALUES (@sweep, @hash, @batch, @rung, @detail, @now) ON CONFLICT DO NOTHING"""
            [
                "@sweep", box sweepName
                "@hash", box hash
                "@batch", box batch
                "@rung", box rung
                "@detail", box (Decision.describe decision)
                "@now", box (Sql.now ())
            ]
        |> ignore

    let private apply tx (sweepName: string) (hash: string) (plan: Plan) (change: Change) =
        match change with
        | Change.Add(trial, until) ->
            insertTrial tx sweepName hash (plan.Trials |> List.findIndex (fun t -> t.Key = trial.Key)) trial until
        | Change.Resume(key, until) ->
            execute
                tx
                "UPDATE trials SET status = 'pending', until_epoch = @until WHERE key = @key AND status = 'paused'"
                [ "@key", box key; "@until", Sql.nullable until ]
            |> ignore
        | Change.Prune key ->
            execute tx "UPDATE trials SET status = 'pruned', finished_utc = @now WHERE key = @key AND status = 'paused'" [
                "@key", box key
                "@now", box (Sql.now ())
            ]
            |> ignore
            // a pruned trial's epochs stay; its checkpoint (the size of the model, twice over) goes
            execute tx "DELETE FROM checkpoints WHERE trial_key = @key" [ "@key", box key ]
            |> ignore

    /// Re-derives the sweep's adaptive search from everything the store holds and, when a decision is
    /// due, records it and applies it, in one transaction serialized with every other worker's: each
    /// decision is made once, by whichever worker gets there first, and all would have made the same.
    /// Returns the plan as derived (its Next is the step just applied, if any).
    let advance (store: Store) (sweep: Sweep) (search: Search) : Plan =
        let hash = Sweep.definitionHash sweep

        writing store (fun tx ->
            Sql.serialize tx

            let known =
                resultsIn store tx sweep.Name
                |> List.map (fun t -> t.Key, progressOf t)
                |> Map.ofList

            let plan = Search.plan sweep search known.TryFind
            plan.Decisions |> List.iter (recordDecision tx sweep.Name hash)

            match plan.Next with
            | Step.Apply(_, changes) -> changes |> List.iter (apply tx sweep.Name hash plan)
            | Step.Train
            | Step.Done -> ()

            plan)

    /// The search re-derived from what the store holds, deciding nothing: what `Sweep.verifyDecisions` compares with the record.
    let plan (store: Store) (sweep: Sweep) (search: Search) : Plan =
        reading store (fun tx ->
            let known =
                resultsIn store tx sweep.Name
                |> List.map (fun t -> t.Key, progressOf t)
                |> Map.ofList

            Search.plan sweep search known.TryFind)

    /// The decisions recorded for the sweep's current definition, in the order they were made.
    let decisions (store: Store) (sweepName: string) : StoredDecision list =
        reading store (fun tx ->
            query
                tx
                """SELECT d.batch, d.rung, d.detail FROM decisions d JOIN sweeps w ON w.name = d.sweep AND w.definition_hash = d.definition_hash
                   WHERE d.sweep = @sweep ORDER BY d.batch, d.rung"""
                [ "@sweep", box sweepName ]
                (fun r -> { Batch = Sql.int32 r 0; Rung = Sql.int32 r 1; Detail = r.GetString 2 }))

    // ---- Verification ----

    /// Records a re-run of a finished trial: whether weights and metrics came out bit-identical, and how.
    let recordVerification (store: Store) (key: string) (identical: bool) (detail: string) =
        writing store (fun tx ->
            if not (Sql.exists tx "SELECT 1 FROM trials WHERE key = @key" [ "@key", box key ]) then
                invalidArg (nameof key) (sprintf "trial %s is not in the run store %s" key store.Location)

            execute
                tx
                "INSERT INTO verifications (trial_key, verified_utc, identical, detail) VALUES (@key, @now, @identical, @detail)"
                [
                    "@key", box key
                    "@now", box (Sql.now ())
                    "@identical", box (if identical then 1 else 0)
                    "@detail", box detail
                ]
            |> ignore)

    /// Every verification of the sweep's trials, oldest first.
    let verifications (store: Store) (sweepName: string) : Verification list =
        reading store (fun tx ->
            query
                tx
                """SELECT v.trial_key, v.verified_utc, v.identical, v.detail FROM verifications v
                   JOIN sweep_trials s ON s.key = v.trial_key WHERE s.sweep = @sweep ORDER BY v.id"""
                [ "@sweep", box sweepName ]
                (fun r -> {
                    Key = r.GetString 0
                    VerifiedUtc = Sql.parseTime (r.GetString 1)
                    Identical = Sql.int32 r 2 = 1
                    Detail = r.GetString 3
                }))

    // ---- Copying between stores ----

    /// One cell as its CLR value: text, int, int64, byte[], float (NaN included) or DBNull.
    let private readCell (r: DbDataReader) (i: int) (kind: StoreSchema.Kind) : objnull =
        if r.IsDBNull i then
            box DBNull.Value
        else
            match kind with
            | StoreSchema.Text -> box (r.GetString i)
            | StoreSchema.Integer -> box (Sql.int32 r i)
            | StoreSchema.BigInteger -> box (Convert.ToInt64(r.GetValue i, CultureInfo.InvariantCulture))
            | StoreSchema.Blob -> box (r.GetFieldValue<byte[]> i)
            | StoreSchema.Real -> Sql.readReal r i |> Option.map box |> Option.defaultValue (box DBNull.Value)

    /// Copies one sweep — definition history, manifest, trials, epochs, checkpoints, models,
    /// verifications — from one store to another (PostgreSQL to a SQLite file for archiving, or back),
    /// in one transaction on each side, cell for cell. Every trial is first read as a `StoredTrial`,
    /// so a damaged source is refused (naming the trial) before anything is written. Refused if the
    /// target already has a sweep of that name.
    let copy (source: Store) (target: Store) (sweepName: string) =
        if (sweep source sweepName).IsNone then
            raise (StoreException(source.Location, sprintf "has no sweep named '%s'" sweepName))

        results source sweepName |> ignore

        let rows =
            reading source (fun tx -> [
                for table, columns, belongs in StoreSchema.tables ->
                    let names = columns |> List.map fst |> String.concat ", "
                    let order = if table = "verifications" then "id" else names

                    let read (r: DbDataReader) = columns |> List.mapi (fun i (_, kind) -> readCell r i kind)

                    table,
                    columns,
                    query
                        tx
                        $"SELECT {names} FROM {table} WHERE {belongs} ORDER BY {order}"
                        [ "@sweep", box sweepName ]
                        read
            ])

        writing target (fun tx ->
            Sql.serialize tx

            if Sql.exists tx "SELECT 1 FROM sweeps WHERE name = @name" [ "@name", box sweepName ] then
                raise (
                    StoreException(
                        target.Location,
                        sprintf "already has a sweep named '%s': copy into another store" sweepName
                    )
                )

            for table, columns, values in rows do
                let names = columns |> List.map fst

                let sql =
                    sprintf
                        "INSERT INTO %s (%s) VALUES (%s) ON CONFLICT DO NOTHING"
                        table
                        (String.concat ", " names)
                        (names |> List.map ((+) "@") |> String.concat ", ")
                // A float goes through the target's own encoding of NaN.
                let cell (value: objnull) =
                    match value with
                    | :? float as x -> Sql.real tx x
                    | other -> other

                for row in values do
                    execute tx sql (List.zip (names |> List.map ((+) "@")) (row |> List.map cell))
                    |> ignore)
