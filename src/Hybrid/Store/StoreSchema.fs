/// The run store's schema: versioned migrations written once for both databases, and the column
/// list `Store.copy` moves between them.
module internal Hybrid.StoreSchema

/// A migration's statement: for both databases, or for one only where their SQL must differ.
type private Statement =
    | Both of string
    | SqliteOnly of string
    | PostgresOnly of string

/// Version 3's trials table for SQLite, which cannot change a CHECK constraint in place: the table
/// is rebuilt (with foreign keys off: `StoreOpening` turns them on after migrating), keeping every row.
let private trialsColumns =
    "key, seed, settings, status, reason, stop, kept_epoch, validation_loss, validation_accuracy, test_loss, test_accuracy, seconds, started_utc, finished_utc, model_path, claim, worker, heartbeat, attempts"

let private statuses =
    "'pending', 'running', 'paused', 'completed', 'diverged', 'failed', 'pruned'"

/// Versioned migrations, applied in order; a database records each one it received.
let private migrations: (int * Statement list) list = [
    1,
    [
        """CREATE TABLE sweeps (
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
             seed {bigint} NOT NULL,
             settings TEXT NOT NULL,
             status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'diverged', 'failed')),
             reason TEXT NOT NULL,
             stop TEXT,
             kept_epoch INTEGER,
             validation_loss {real},
             validation_accuracy {real},
             test_loss {real},
             test_accuracy {real},
             seconds {real},
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
             train_loss {real},
             train_accuracy {real},
             validation_loss {real},
             validation_accuracy {real},
             learning_rate {real},
             PRIMARY KEY (trial_key, epoch))"""
        """CREATE TABLE checkpoints (
             trial_key TEXT PRIMARY KEY REFERENCES trials(key),
             epoch INTEGER NOT NULL,
             state {blob} NOT NULL)"""
        """CREATE TABLE verifications (
             id {id},
             trial_key TEXT NOT NULL REFERENCES trials(key),
             verified_utc TEXT NOT NULL,
             identical INTEGER NOT NULL CHECK (identical IN (0, 1)),
             detail TEXT NOT NULL)"""
        "CREATE INDEX verifications_trial ON verifications(trial_key)"
    ]
    |> List.map Both
    // Version 2: workers on several machines claim trials and prove they are alive; models live in
    // the store so any machine can report. Version-1 trials keep their model files (model_path).
    2,
    [
        "ALTER TABLE trials ADD COLUMN claim TEXT"
        "ALTER TABLE trials ADD COLUMN worker TEXT"
        "ALTER TABLE trials ADD COLUMN heartbeat {real}"
        "ALTER TABLE trials ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0"
        "CREATE INDEX trials_status ON trials(status)"
        """CREATE TABLE models (
             trial_key TEXT PRIMARY KEY REFERENCES trials(key),
             state {blob} NOT NULL)"""
    ]
    |> List.map Both
    // Version 3: adaptive search. A trial may stop at a rung (paused) until the rung's decision
    // resumes it up to the next rung (until_epoch) or prunes it; each decision is recorded once.
    3,
    [
        SqliteOnly
            $"""CREATE TABLE trials_v3 (
                 key TEXT PRIMARY KEY,
                 seed INTEGER NOT NULL,
                 settings TEXT NOT NULL,
                 status TEXT NOT NULL CHECK (status IN ({statuses})),
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
                 model_path TEXT,
                 claim TEXT,
                 worker TEXT,
                 heartbeat REAL,
                 attempts INTEGER NOT NULL DEFAULT 0,
                 until_epoch INTEGER)"""
        SqliteOnly $"INSERT INTO trials_v3 ({trialsColumns}) SELECT {trialsColumns} FROM trials"
        SqliteOnly "DROP TABLE trials"
        SqliteOnly "ALTER TABLE trials_v3 RENAME TO trials"
        SqliteOnly "CREATE INDEX trials_status ON trials(status)"
        PostgresOnly "ALTER TABLE trials DROP CONSTRAINT trials_status_check"
        PostgresOnly $"ALTER TABLE trials ADD CONSTRAINT trials_status_check CHECK (status IN ({statuses}))"
        PostgresOnly "ALTER TABLE trials ADD COLUMN until_epoch INTEGER"
        Both
            """CREATE TABLE decisions (
                 sweep TEXT NOT NULL REFERENCES sweeps(name),
                 definition_hash TEXT NOT NULL,
                 batch INTEGER NOT NULL,
                 rung INTEGER NOT NULL,
                 detail TEXT NOT NULL,
                 decided_utc TEXT NOT NULL,
                 PRIMARY KEY (sweep, definition_hash, batch, rung))"""
    ]
]

/// The newest schema this library reads and writes.
let version = migrations |> List.map fst |> List.max

/// The store's schema version, or None for a database without the version table; refuses a
/// database that holds other tables, or whose schema is newer than this library's.
let private recorded (store: Store) (tx: Tx) =
    if Sql.exists tx tx.Dialect.TableExists [ "@name", box "schema_version" ] then
        let current =
            Sql.query tx "SELECT coalesce(max(version), 0) FROM schema_version" [] (fun r -> Sql.int32 r 0)
            |> List.head

        if current > version then
            let problem =
                sprintf
                    "the run store has schema version %d, but this version of Hybrid supports up to version %d: open it with a newer Hybrid"
                    current
                    version

            raise (StoreException(store.Location, problem))

        Some current
    else
        match Sql.query tx tx.Dialect.ForeignTables [] (fun r -> r.GetString 0) with
        | [] -> None
        | tables ->
            raise (
                StoreException(
                    store.Location,
                    sprintf "not a Hybrid run store: no schema_version table, but tables %s" (String.concat ", " tables)
                )
            )

/// Checks, in a transaction that writes nothing, that the store has this library's schema: a
/// reader cannot bring an empty or older store up to date, so it refuses one with the reason.
let check (store: Store) =
    Sql.transaction false store (fun tx ->
        match recorded store tx with
        | Some current when current = version -> ()
        | Some current ->
            let problem =
                sprintf
                    "the run store has schema version %d and this Hybrid reads version %d; a reader does not upgrade it: run a sweep on it once with this Hybrid"
                    current
                    version

            raise (StoreException(store.Location, problem))
        | None ->
            raise (
                StoreException(
                    store.Location,
                    "holds no run store yet (no schema_version table): start a sweep on it first"
                )
            ))

/// Brings the store's schema up to date in one transaction; refuses a database that is not a run
/// store, or whose schema is newer than this library's.
let migrate (store: Store) =
    Sql.transaction true store (fun tx ->
        Sql.serialize tx

        let current =
            match recorded store tx with
            | Some current -> current
            | None ->
                Sql.execute tx "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_utc TEXT NOT NULL)" []
                |> ignore

                0

        for number, statements in migrations do
            if number > current then
                for statement in statements do
                    match statement, store.Backend with
                    | Both sql, _
                    | SqliteOnly sql, Backend.Sqlite
                    | PostgresOnly sql, Backend.Postgres -> Sql.execute tx sql [] |> ignore
                    | SqliteOnly _, Backend.Postgres
                    | PostgresOnly _, Backend.Sqlite -> ()

                Sql.execute tx "INSERT INTO schema_version (version, applied_utc) VALUES (@version, @now)" [
                    "@version", box number
                    "@now", box (Sql.now ())
                ]
                |> ignore)

/// How a column's values travel between the two databases.
type Kind =
    | Text
    | Integer
    | BigInteger
    | Real
    | Blob

/// The tables `Store.copy` moves, parents first, each with its columns and the condition that picks
/// one sweep's rows (`@sweep`). Verifications keep their order but not their ids.
let tables: (string * (string * Kind) list * string) list =
    let ofSweep = "sweep = @sweep"

    let ofTrials column = sprintf "%s IN (SELECT key FROM sweep_trials WHERE sweep = @sweep)" column

    [
        "sweeps",
        [
            "name", Text
            "definition_hash", Text
            "definition", Text
            "notes", Text
            "created_utc", Text
        ],
        "name = @sweep"
        "definitions",
        [
            "sweep", Text
            "definition_hash", Text
            "definition", Text
            "registered_utc", Text
        ],
        ofSweep
        "manifest", [ "sweep", Text; "key", Text; "value", Text; "position", Integer ], ofSweep
        "trials",
        [
            "key", Text
            "seed", BigInteger
            "settings", Text
            "status", Text
            "reason", Text
            "stop", Text
            "kept_epoch", Integer
            "validation_loss", Real
            "validation_accuracy", Real
            "test_loss", Real
            "test_accuracy", Real
            "seconds", Real
            "started_utc", Text
            "finished_utc", Text
            "model_path", Text
            "claim", Text
            "worker", Text
            "heartbeat", Real
            "attempts", Integer
            "until_epoch", Integer
        ],
        ofTrials "key"
        "sweep_trials",
        [
            "sweep", Text
            "key", Text
            "configuration", Integer
            "position", Integer
            "values_json", Text
            "definition_hash", Text
        ],
        ofSweep
        "epochs",
        [
            "trial_key", Text
            "epoch", Integer
            "train_loss", Real
            "train_accuracy", Real
            "validation_loss", Real
            "validation_accuracy", Real
            "learning_rate", Real
        ],
        ofTrials "trial_key"
        "checkpoints", [ "trial_key", Text; "epoch", Integer; "state", Blob ], ofTrials "trial_key"
        "models", [ "trial_key", Text; "state", Blob ], ofTrials "trial_key"
        "verifications",
        [
            "trial_key", Text
            "verified_utc", Text
            "identical", Integer
            "detail", Text
        ],
        ofTrials "trial_key"
        "decisions",
        [
            "sweep", Text
            "definition_hash", Text
            "batch", Integer
            "rung", Integer
            "detail", Text
            "decided_utc", Text
        ],
        ofSweep
    ]
