namespace Hybrid

open System
open System.Globalization
open System.IO
open System.Text
open System.Text.Json
open Microsoft.Data.Sqlite
open Hybrid.Engine.Training

/// Where a trial stands in the store.
[<RequireQualifiedAccess>]
type TrialState =
    | Pending
    | Running
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
      ModelPath: string option
      /// The sweep definition under which the trial was last added: trials of an earlier definition
      /// that the current one no longer expands keep their older hash.
      DefinitionHash: string
      History: EpochMetrics list }

/// A re-run of a finished trial checked against its record.
type Verification =
    { Key: string
      VerifiedUtc: DateTime
      Identical: bool
      Detail: string }

/// An open run store: one SQLite database. Not thread-safe beyond its own lock; one process writes.
[<Sealed>]
type Store internal (connection: SqliteConnection, file: string) =
    member _.File = file
    member internal _.Connection = connection

    interface IDisposable with
        member _.Dispose() = connection.Dispose()

/// The run store: SQLite (WAL, foreign keys on), every write one transaction, so a process killed
/// at any point leaves a valid database holding every committed trial.
[<RequireQualifiedAccess>]
module Store =

    type private Tx =
        { Connection: SqliteConnection
          Transaction: SqliteTransaction }

    /// Versioned migrations, applied in order; a database records each one it received.
    let private migrations: (int * string list) list =
        [ 1,
          [ """CREATE TABLE sweeps (
                 name TEXT PRIMARY KEY,
                 definition_hash TEXT NOT NULL,
                 definition TEXT NOT NULL,
                 notes TEXT NOT NULL,
                 created_utc TEXT NOT NULL)"""
            """CREATE TABLE definitions (
                 sweep TEXT NOT NULL REFERENCES sweeps(name),
                 definition_hash TEXT NOT NULL,
                 definition TEXT NOT NULL,
                 registered_utc TEXT NOT NULL,
                 PRIMARY KEY (sweep, definition_hash))"""
            """CREATE TABLE manifest (
                 sweep TEXT NOT NULL REFERENCES sweeps(name),
                 key TEXT NOT NULL,
                 value TEXT NOT NULL,
                 position INTEGER NOT NULL,
                 PRIMARY KEY (sweep, key))"""
            """CREATE TABLE trials (
                 key TEXT PRIMARY KEY,
                 seed INTEGER NOT NULL,
                 settings TEXT NOT NULL,
                 status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'diverged', 'failed')),
                 reason TEXT NOT NULL,
                 stop TEXT,
                 kept_epoch INTEGER,
                 validation_loss REAL,
                 validation_accuracy REAL,
                 test_loss REAL,
                 test_accuracy REAL,
                 seconds REAL,
                 started_utc TEXT,
                 finished_utc TEXT,
                 model_path TEXT)"""
            """CREATE TABLE sweep_trials (
                 sweep TEXT NOT NULL REFERENCES sweeps(name),
                 key TEXT NOT NULL REFERENCES trials(key),
                 configuration INTEGER NOT NULL,
                 position INTEGER NOT NULL,
                 values_json TEXT NOT NULL,
                 definition_hash TEXT NOT NULL,
                 PRIMARY KEY (sweep, key))"""
            """CREATE TABLE epochs (
                 trial_key TEXT NOT NULL REFERENCES trials(key),
                 epoch INTEGER NOT NULL,
                 train_loss REAL,
                 train_accuracy REAL,
                 validation_loss REAL,
                 validation_accuracy REAL,
                 learning_rate REAL,
                 PRIMARY KEY (trial_key, epoch))"""
            """CREATE TABLE checkpoints (
                 trial_key TEXT PRIMARY KEY REFERENCES trials(key),
                 epoch INTEGER NOT NULL,
                 state BLOB NOT NULL)"""
            """CREATE TABLE verifications (
                 id INTEGER PRIMARY KEY,
                 trial_key TEXT NOT NULL REFERENCES trials(key),
                 verified_utc TEXT NOT NULL,
                 identical INTEGER NOT NULL CHECK (identical IN (0, 1)),
                 detail TEXT NOT NULL)"""
            "CREATE INDEX verifications_trial ON verifications(trial_key)" ] ]

    /// The newest schema this library reads and writes.
    let schemaVersion = migrations |> List.map fst |> List.max

    // ---- SQL plumbing: every statement parameterized, every call inside one transaction ----

    let private command (tx: Tx) (sql: string) (parameters: (string * objnull) list) =
        let c = tx.Connection.CreateCommand()
        c.Transaction <- tx.Transaction
        c.CommandText <- sql
        for name, value in parameters do
            c.Parameters.AddWithValue(name, value) |> ignore
        c

    let private execute tx sql parameters =
        use c = command tx sql parameters
        c.ExecuteNonQuery()

    let private query tx sql parameters (read: SqliteDataReader -> 'a) : 'a list =
        use c = command tx sql parameters
        use reader = c.ExecuteReader()
        [ while reader.Read() do
              yield read reader ]

    let private transaction (deferred: bool) (store: Store) (work: Tx -> 'a) : 'a =
        lock store (fun () ->
            use t = store.Connection.BeginTransaction(deferred)
            let result = work { Connection = store.Connection; Transaction = t }
            t.Commit()
            result)

    let private writing (store: Store) work = Files.explainingDiskFaults store.File (fun () -> transaction false store work)
    let private reading store work = transaction true store work

    // ---- Encodings ----

    let private now () = DateTime.UtcNow.ToString("o", CultureInfo.InvariantCulture)

    let private parseTime (text: string) =
        DateTime.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind)

    let private nullable (value: 'a option) : objnull =
        match value with
        | Some v -> box v
        | None -> box DBNull.Value

    /// SQLite stores NaN as NULL; writing it as the text 'NaN' keeps "no value" and "not a number" apart.
    let private real (x: float) : objnull = if Double.IsNaN x then box "NaN" else box x

    let private realOrNull (x: Nullable<float>) : objnull = if x.HasValue then real x.Value else box DBNull.Value

    let private readReal (reader: SqliteDataReader) (i: int) : float option =
        match reader.GetValue i with
        | :? float as x -> Some x
        | :? int64 as n -> Some(float n)
        | :? string as "NaN" -> Some nan
        | :? DBNull -> None
        | other -> failwithf "column %s: expected a number, found %O" (reader.GetName i) other

    let private readText (reader: SqliteDataReader) (i: int) : string option =
        if reader.IsDBNull i then None else Some(reader.GetString i)

    let private readInt (reader: SqliteDataReader) (i: int) : int option =
        if reader.IsDBNull i then None else Some(reader.GetInt32 i)

    /// The state's name as stored and reported: pending, running, completed, diverged or failed.
    let stateName (state: TrialState) =
        match state with
        | TrialState.Pending -> "pending"
        | TrialState.Running -> "running"
        | TrialState.Finished Completed -> "completed"
        | TrialState.Finished Diverged -> "diverged"
        | TrialState.Finished Failed -> "failed"

    let private parseStatus (text: string) =
        match text with
        | "pending" -> TrialState.Pending
        | "running" -> TrialState.Running
        | "completed" -> TrialState.Finished Completed
        | "diverged" -> TrialState.Finished Diverged
        | "failed" -> TrialState.Finished Failed
        | other -> failwithf "unknown trial status '%s'" other

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

    let private parseValues (json: string) : (string * string) list =
        use document = JsonDocument.Parse json
        [ for pair in document.RootElement.EnumerateArray() ->
              let text (i: int) = pair[i].GetString() |> Option.ofObj |> Option.defaultValue ""
              text 0, text 1 ]

    // ---- Opening ----

    let private header = Encoding.ASCII.GetBytes "SQLite format 3\000"

    /// SQLite opens anything lazily; checking the 16-byte header first gives a clear error.
    let private checkHeader (file: string) =
        if File.Exists file && FileInfo(file).Length > 0L then
            let start =
                use stream = File.OpenRead file
                let buffer = Array.zeroCreate<byte> header.Length
                let read = stream.ReadAtLeast(buffer.AsSpan(), buffer.Length, false)
                buffer[.. read - 1]
            if start <> header then
                raise (InvalidFileException(file, "bytes 0-15", "not a SQLite database: the file does not start with the header \"SQLite format 3\""))

    let private tableExists tx (name: string) =
        query tx "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = @name" [ "@name", box name ] ignore
        |> List.isEmpty
        |> not

    let private migrate (store: Store) =
        writing store (fun tx ->
            let current =
                if tableExists tx "schema_version" then
                    query tx "SELECT coalesce(max(version), 0) FROM schema_version" [] (fun r -> r.GetInt32 0) |> List.head
                else
                    let tables = query tx "SELECT name FROM sqlite_master WHERE type = 'table'" [] (fun r -> r.GetString 0)
                    if not tables.IsEmpty then
                        let problem =
                            sprintf "a SQLite database, but not a Hybrid run store (no schema_version table; tables: %s)" (String.concat ", " tables)
                        raise (InvalidFileException(store.File, "", problem))
                    execute tx "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_utc TEXT NOT NULL)" [] |> ignore
                    0
            if current > schemaVersion then
                let problem =
                    sprintf "the run store has schema version %d, but this version of Hybrid supports up to version %d: open it with a newer Hybrid" current schemaVersion
                raise (InvalidFileException(store.File, "schema_version", problem))
            for version, statements in migrations do
                if version > current then
                    for sql in statements do
                        execute tx sql [] |> ignore
                    execute tx "INSERT INTO schema_version (version, applied_utc) VALUES (@version, @now)" [ "@version", box version; "@now", box (now ()) ]
                    |> ignore)

    let private pragma (connection: SqliteConnection) (sql: string) =
        use c = connection.CreateCommand()
        c.CommandText <- sql
        c.ExecuteScalar() |> ignore

    /// Opens the store at a path, creating the directory and the database if missing and bringing an
    /// older schema up to date. A file that is not a Hybrid run store, or has a newer schema than this
    /// library knows, is refused with an InvalidFileException naming it.
    let openAt (path: string) : Store =
        let file = Path.GetFullPath path
        match Path.GetDirectoryName file with
        | null -> ()
        | directory -> Directory.CreateDirectory directory |> ignore
        checkHeader file
        let builder =
            SqliteConnectionStringBuilder(DataSource = file, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = false)
        let connection = new SqliteConnection(builder.ConnectionString)
        let store = new Store(connection, file)
        try
            try
                connection.Open()
                pragma connection "PRAGMA journal_mode = WAL"
                // FULL: a commit survives a power cut too, not only a killed process; trials commit rarely.
                pragma connection "PRAGMA synchronous = FULL"
                pragma connection "PRAGMA foreign_keys = ON"
                migrate store
                store
            with
            | :? SqliteException as e when e.SqliteErrorCode = 26 (* SQLITE_NOTADB *) || e.SqliteErrorCode = 11 (* SQLITE_CORRUPT *) ->
                raise (InvalidFileException(file, "", sprintf "not a valid SQLite database (%s)" e.Message))
            | :? SqliteException as e when Files.isDiskFault e -> raise (Files.cannotWrite file e)
        with _ ->
            (store :> IDisposable).Dispose()
            reraise ()

    // ---- Sweeps ----

    /// Records a sweep and its reproducibility manifest. The first registration inserts it; the same
    /// definition again only replaces the notes and the manifest; a changed definition (same name,
    /// another hash) is accepted — its trials keep their results and `addTrials` adds only the new
    /// ones — and becomes current, with every earlier definition kept in the history.
    let register (store: Store) (sweep: Sweep) (manifest: (string * string) list) : Registration =
        match manifest |> List.countBy fst |> List.filter (fun (_, n) -> n > 1) with
        | [] -> ()
        | repeated -> invalidArg (nameof manifest) (sprintf "manifest keys appear more than once: %s" (repeated |> List.map fst |> String.concat ", "))
        let hash = Sweep.definitionHash sweep
        let definition = Sweep.print sweep + "base: " + Sweep.describe sweep.Base
        let name = box sweep.Name
        writing store (fun tx ->
            let previous = query tx "SELECT definition_hash FROM sweeps WHERE name = @name" [ "@name", name ] (fun r -> r.GetString 0)
            let stamp = box (now ())
            match previous with
            | [] ->
                execute
                    tx
                    "INSERT INTO sweeps (name, definition_hash, definition, notes, created_utc) VALUES (@name, @hash, @definition, @notes, @now)"
                    [ "@name", name; "@hash", box hash; "@definition", box definition; "@notes", box sweep.Notes; "@now", stamp ]
                |> ignore
            | _ ->
                execute
                    tx
                    "UPDATE sweeps SET definition_hash = @hash, definition = @definition, notes = @notes WHERE name = @name"
                    [ "@name", name; "@hash", box hash; "@definition", box definition; "@notes", box sweep.Notes ]
                |> ignore
            execute
                tx
                "INSERT OR IGNORE INTO definitions (sweep, definition_hash, definition, registered_utc) VALUES (@name, @hash, @definition, @now)"
                [ "@name", name; "@hash", box hash; "@definition", box definition; "@now", stamp ]
            |> ignore
            execute tx "DELETE FROM manifest WHERE sweep = @name" [ "@name", name ] |> ignore
            manifest
            |> List.iteri (fun i (key, value) ->
                execute
                    tx
                    "INSERT INTO manifest (sweep, key, value, position) VALUES (@name, @key, @value, @position)"
                    [ "@name", name; "@key", box key; "@value", box value; "@position", box i ]
                |> ignore)
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
                    "SELECT definition_hash, registered_utc FROM definitions WHERE sweep = @name ORDER BY registered_utc, rowid"
                    [ "@name", box name ]
                    (fun r -> r.GetString 0, parseTime (r.GetString 1))
            query
                tx
                "SELECT name, definition_hash, definition, notes, created_utc FROM sweeps WHERE name = @name"
                [ "@name", box name ]
                (fun r ->
                    { Name = r.GetString 0
                      DefinitionHash = r.GetString 1
                      Definition = r.GetString 2
                      Notes = r.GetString 3
                      CreatedUtc = parseTime (r.GetString 4)
                      History = history })
            |> List.tryHead)

    /// The manifest recorded by the sweep's latest registration, in its order.
    let manifest (store: Store) (sweepName: string) : (string * string) list =
        reading store (fun tx ->
            query tx "SELECT key, value FROM manifest WHERE sweep = @sweep ORDER BY position" [ "@sweep", box sweepName ] (fun r ->
                r.GetString 0, r.GetString 1))

    // ---- Trials ----

    /// Adds the trials (normally the sweep's whole expansion) as pending, in one transaction. A trial
    /// already in the store keeps its state and results; only its place in the sweep (configuration
    /// index, values, definition) is brought up to date, so a changed sweep adds only the new trials.
    let addTrials (store: Store) (sweepName: string) (trials: Trial list) =
        writing store (fun tx ->
            let definitionHash =
                match query tx "SELECT definition_hash FROM sweeps WHERE name = @name" [ "@name", box sweepName ] (fun r -> r.GetString 0) with
                | hash :: _ -> hash
                | [] -> invalidArg (nameof sweepName) (sprintf "sweep '%s' is not registered in %s: call Store.register first" sweepName store.File)
            trials
            |> List.iteri (fun position trial ->
                let key = box trial.Key
                execute
                    tx
                    "INSERT OR IGNORE INTO trials (key, seed, settings, status, reason) VALUES (@key, @seed, @settings, 'pending', '')"
                    [ "@key", key; "@seed", box (int64 trial.Seed); "@settings", box (Sweep.describe trial.Settings) ]
                |> ignore
                execute
                    tx
                    """INSERT INTO sweep_trials (sweep, key, configuration, position, values_json, definition_hash)
                       VALUES (@sweep, @key, @configuration, @position, @values, @hash)
                       ON CONFLICT (sweep, key) DO UPDATE SET configuration = excluded.configuration, position = excluded.position,
                           values_json = excluded.values_json, definition_hash = excluded.definition_hash"""
                    [ "@sweep", box sweepName
                      "@key", key
                      "@configuration", box trial.Configuration
                      "@position", box position
                      "@values", box (valuesJson trial.Values)
                      "@hash", box definitionHash ]
                |> ignore))

    let private missing (store: Store) (key: string) : 'a =
        invalidArg (nameof key) (sprintf "trial %s is not in the run store %s: add it with Store.addTrials first" key store.File)

    /// The trial's state, or None if the store does not have it.
    let status (store: Store) (key: string) : TrialState option =
        reading store (fun tx ->
            query tx "SELECT status FROM trials WHERE key = @key" [ "@key", box key ] (fun r -> parseStatus (r.GetString 0))
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

    let private clearResults = """
        status = 'pending', reason = '', stop = NULL, kept_epoch = NULL, validation_loss = NULL, validation_accuracy = NULL,
        test_loss = NULL, test_accuracy = NULL, seconds = NULL, started_utc = NULL, finished_utc = NULL, model_path = NULL"""

    /// Makes the sweep's failed trials pending again (results, epochs and checkpoints cleared), so the
    /// next run retries them; returns how many.
    let resetFailed (store: Store) (sweepName: string) : int =
        writing store (fun tx ->
            let failed = "SELECT t.key FROM trials t JOIN sweep_trials s ON s.key = t.key WHERE s.sweep = @sweep AND t.status = 'failed'"
            let sweep = [ "@sweep", box sweepName ]
            execute tx $"DELETE FROM epochs WHERE trial_key IN ({failed})" sweep |> ignore
            execute tx $"DELETE FROM checkpoints WHERE trial_key IN ({failed})" sweep |> ignore
            execute tx $"UPDATE trials SET {clearResults} WHERE key IN ({failed})" sweep)

    /// Marks a trial as running. Epochs recorded after its checkpoint (or all, without one) are
    /// dropped: a run cut off mid-trial resumes from the checkpoint and records them again.
    let markRunning (store: Store) (key: string) =
        writing store (fun tx ->
            let changed =
                execute tx "UPDATE trials SET status = 'running', started_utc = @now WHERE key = @key" [ "@key", box key; "@now", box (now ()) ]
            if changed = 0 then missing store key
            execute
                tx
                "DELETE FROM epochs WHERE trial_key = @key AND epoch > coalesce((SELECT epoch FROM checkpoints WHERE trial_key = @key), 0)"
                [ "@key", box key ]
            |> ignore)

    let private insertEpoch tx (key: string) (m: EpochMetrics) =
        execute
            tx
            """INSERT OR REPLACE INTO epochs (trial_key, epoch, train_loss, train_accuracy, validation_loss, validation_accuracy, learning_rate)
               VALUES (@key, @epoch, @trainLoss, @trainAccuracy, @validationLoss, @validationAccuracy, @learningRate)"""
            [ "@key", box key
              "@epoch", box m.Epoch
              "@trainLoss", real m.TrainLoss
              "@trainAccuracy", real m.TrainAccuracy
              "@validationLoss", realOrNull m.ValidationLoss
              "@validationAccuracy", realOrNull m.ValidationAccuracy
              "@learningRate", real m.LearningRate ]
        |> ignore

    let private insertCheckpoint tx (key: string) (epoch: int) (state: byte[]) =
        execute
            tx
            "INSERT OR REPLACE INTO checkpoints (trial_key, epoch, state) VALUES (@key, @epoch, @state)"
            [ "@key", box key; "@epoch", box epoch; "@state", box state ]
        |> ignore

    /// Records one epoch's metrics; recording an epoch again replaces it.
    let recordEpoch (store: Store) (key: string) (m: EpochMetrics) =
        writing store (fun tx -> insertEpoch tx key m)

    /// Stores the trial's checkpoint after an epoch, replacing the one before.
    let saveCheckpoint (store: Store) (key: string) (epoch: int) (state: byte[]) =
        writing store (fun tx -> insertCheckpoint tx key epoch state)

    /// Records an epoch and the checkpoint after it in one transaction (one disk sync, and never an
    /// epoch without the checkpoint that resumes after it).
    let recordEpochWithCheckpoint (store: Store) (key: string) (m: EpochMetrics) (state: byte[]) =
        writing store (fun tx ->
            insertEpoch tx key m
            insertCheckpoint tx key m.Epoch state)

    /// The trial's latest checkpoint (epoch, state), if it has one.
    let latestCheckpoint (store: Store) (key: string) : (int * byte[]) option =
        reading store (fun tx ->
            query tx "SELECT epoch, state FROM checkpoints WHERE trial_key = @key" [ "@key", box key ] (fun r ->
                r.GetInt32 0, r.GetFieldValue<byte[]> 1)
            |> List.tryHead)

    /// Records a finished trial in one transaction: status, reason, final metrics, the model's path
    /// and the result's history (replacing the epochs recorded along the way); its checkpoint is deleted.
    let finish (store: Store) (result: TrialResult) (modelPath: string option) =
        let key = result.Trial.Key
        writing store (fun tx ->
            let changed =
                execute
                    tx
                    """UPDATE trials SET status = @status, reason = @reason, stop = @stop, kept_epoch = @kept,
                           validation_loss = @validationLoss, validation_accuracy = @validationAccuracy,
                           test_loss = @testLoss, test_accuracy = @testAccuracy, seconds = @seconds,
                           finished_utc = @now, model_path = @model
                       WHERE key = @key"""
                    [ "@key", box key
                      "@status", box (stateName (TrialState.Finished result.Status))
                      "@reason", box result.Reason
                      "@stop", box (string result.Stop)
                      "@kept", box result.KeptEpoch
                      "@validationLoss", real result.ValidationLoss
                      "@validationAccuracy", real result.ValidationAccuracy
                      "@testLoss", real result.TestLoss
                      "@testAccuracy", real result.TestAccuracy
                      "@seconds", real result.Seconds
                      "@now", box (now ())
                      "@model", nullable modelPath ]
            if changed = 0 then missing store key
            execute tx "DELETE FROM epochs WHERE trial_key = @key" [ "@key", box key ] |> ignore
            for m in result.History do
                insertEpoch tx key m
            execute tx "DELETE FROM checkpoints WHERE trial_key = @key" [ "@key", box key ] |> ignore)

    let private readEpoch (r: SqliteDataReader) =
        let value i = readReal r i |> Option.defaultValue nan
        let optional i = readReal r i |> Option.toNullable
        r.GetString 0, EpochMetrics(r.GetInt32 1, value 2, value 3, optional 4, optional 5, value 6)

    /// Reads a row whose first column is a trial's key. A value the store cannot have written (a
    /// damaged or hand-edited database) is an InvalidFileException naming the store and the trial.
    let private ofTrialRow (store: Store) (read: SqliteDataReader -> 'a) (r: SqliteDataReader) : 'a =
        try read r
        with :? JsonException | :? FormatException | :? ArgumentException | :? InvalidOperationException | :? InvalidCastException
             | :? IndexOutOfRangeException | :? OverflowException | Failure _ as e ->
            raise (InvalidFileException(store.File, sprintf "trial %O" (r.GetValue 0), sprintf "unreadable stored value (%s)" e.Message))

    /// Every trial of the sweep, by configuration and then in expansion order, with its epochs.
    let results (store: Store) (sweepName: string) : StoredTrial list =
        reading store (fun tx ->
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
                          t.started_utc, t.finished_utc, t.model_path, s.definition_hash
                   FROM sweep_trials s JOIN trials t ON t.key = s.key WHERE s.sweep = @sweep ORDER BY s.configuration, s.position"""
                sweep
                (ofTrialRow store (fun r ->
                    let state = parseStatus (r.GetString 5)
                    let finished = (match state with TrialState.Finished _ -> true | _ -> false)
                    // A finished trial's missing figure reads as NaN; an unfinished trial has none.
                    let final i = if finished then Some(readReal r i |> Option.defaultValue nan) else None
                    let key = r.GetString 0
                    { Key = key
                      Configuration = r.GetInt32 1
                      Seed = uint64 (r.GetInt64 2)
                      Settings = r.GetString 3
                      Values = parseValues (r.GetString 4)
                      State = state
                      Reason = r.GetString 6
                      Stop = readText r 7 |> Option.map (fun s -> Enum.Parse<StopReason> s)
                      KeptEpoch = readInt r 8
                      ValidationLoss = final 9
                      ValidationAccuracy = final 10
                      TestLoss = final 11
                      TestAccuracy = final 12
                      Seconds = final 13
                      StartedUtc = readText r 14 |> Option.map parseTime
                      FinishedUtc = readText r 15 |> Option.map parseTime
                      ModelPath = readText r 16
                      DefinitionHash = r.GetString 17
                      History = epochs |> Map.tryFind key |> Option.defaultValue [] })))

    // ---- Verification ----

    /// Records a re-run of a finished trial: whether weights and metrics came out bit-identical, and how.
    let recordVerification (store: Store) (key: string) (identical: bool) (detail: string) =
        writing store (fun tx ->
            if query tx "SELECT 1 FROM trials WHERE key = @key" [ "@key", box key ] ignore |> List.isEmpty then missing store key
            execute
                tx
                "INSERT INTO verifications (trial_key, verified_utc, identical, detail) VALUES (@key, @now, @identical, @detail)"
                [ "@key", box key; "@now", box (now ()); "@identical", box identical; "@detail", box detail ]
            |> ignore)

    /// Every verification of the sweep's trials, oldest first.
    let verifications (store: Store) (sweepName: string) : Verification list =
        reading store (fun tx ->
            query
                tx
                """SELECT v.trial_key, v.verified_utc, v.identical, v.detail FROM verifications v
                   JOIN sweep_trials s ON s.key = v.trial_key WHERE s.sweep = @sweep ORDER BY v.id"""
                [ "@sweep", box sweepName ]
                (fun r ->
                    { Key = r.GetString 0
                      VerifiedUtc = parseTime (r.GetString 1)
                      Identical = r.GetBoolean 2
                      Detail = r.GetString 3 }))
