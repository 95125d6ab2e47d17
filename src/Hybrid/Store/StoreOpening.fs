namespace Hybrid

open System
open System.Globalization
open System.IO
open System.Text
open Microsoft.Data.Sqlite
open Npgsql

/// Opening a run store: SQLite's file checks and pragmas, PostgreSQL's connection pool, and the
/// schema brought up to date. `Store.openAt`, `Store.openPostgres` and `Store.connect` are the public names.
module internal StoreOpening =

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
                raise (
                    InvalidFileException(
                        file,
                        "bytes 0-15",
                        "not a SQLite database: the file does not start with the header \"SQLite format 3\""
                    )
                )

    let private pragma (connection: SqliteConnection) (sql: string) =
        use c = connection.CreateCommand()
        c.CommandText <- sql
        c.ExecuteScalar() |> ignore

    /// How long a worker retries a lost PostgreSQL server before giving up: HYBRID_STORE_RETRY_SECONDS, or 120.
    let private retryFor () =
        match
            Double.TryParse(
                Environment.GetEnvironmentVariable "HYBRID_STORE_RETRY_SECONDS",
                NumberStyles.Float,
                CultureInfo.InvariantCulture
            )
        with
        | true, seconds when seconds >= 0.0 -> TimeSpan.FromSeconds seconds
        | _ -> TimeSpan.FromSeconds 120.0

    /// The store after `prepare` (a migration or a check); disposed if that fails.
    let private prepared (prepare: Store -> unit) (store: Store) =
        try
            prepare store
            store
        with _ ->
            (store :> IDisposable).Dispose()
            reraise ()

    let private migrated = prepared StoreSchema.migrate
    let private checked' = prepared StoreSchema.check

    /// A store on one connection to the file (returned too, for pragmas after a migration), opened in
    /// the given mode; `configure` sets its pragmas.
    let private openSqlite
        (file: string)
        (mode: SqliteOpenMode)
        (configure: SqliteConnection -> unit)
        : Store * SqliteConnection =
        checkHeader file
        // Several processes may share one file: a writer waits up to 30 s for another's transaction.
        let builder =
            SqliteConnectionStringBuilder(DataSource = file, Mode = mode, Pooling = false, DefaultTimeout = 30)

        let connection = new SqliteConnection(builder.ConnectionString)

        let store =
            new Store(Dialect.sqlite, OneConnection connection, file, retryFor (), (mode = SqliteOpenMode.ReadOnly))

        try
            connection.Open()
            configure connection
        with
        | :? SqliteException as e when
            e.SqliteErrorCode = 26 (* SQLITE_NOTADB *)
            || e.SqliteErrorCode = 11 (* SQLITE_CORRUPT *)
            ->
            (store :> IDisposable).Dispose()
            raise (InvalidFileException(file, "", sprintf "not a valid SQLite database (%s)" e.Message))
        | :? SqliteException as e when (SqliteFaults.explain file e).IsSome ->
            (store :> IDisposable).Dispose()
            raise (SqliteFaults.explain file e).Value
        | _ ->
            (store :> IDisposable).Dispose()
            reraise ()

        store, connection

    /// Opens the SQLite store at a path, creating the directory and the database if missing and
    /// bringing an older schema up to date. A file that is not a SQLite database is refused with an
    /// InvalidFileException; one that is not a run store, or has a newer schema, with a StoreException.
    let openAt (path: string) : Store =
        let file = Path.GetFullPath path

        match Path.GetDirectoryName file with
        | null -> ()
        | directory -> Directory.CreateDirectory directory |> ignore

        let store, connection =
            openSqlite file SqliteOpenMode.ReadWriteCreate (fun connection ->
                pragma connection "PRAGMA journal_mode = WAL"
                // FULL: a commit survives a power cut too, not only a killed process; trials commit rarely.
                pragma connection "PRAGMA synchronous = FULL"
                // Off while migrating (SQLite's build may default it on): a migration that rebuilds a
                // table must not have its rows' references checked midway; on again right after.
                pragma connection "PRAGMA foreign_keys = OFF")

        SqliteFaults.explaining file (fun () ->
            let store = migrated store
            pragma connection "PRAGMA foreign_keys = ON"
            store)

    /// Where a PostgreSQL store is, for messages and reports: user, server and database, never the password.
    let private describe (builder: NpgsqlConnectionStringBuilder) =
        sprintf
            "postgresql://%s@%s:%d/%s"
            (string builder.Username)
            (string builder.Host)
            builder.Port
            (string builder.Database)

    /// Opens a PostgreSQL store from an Npgsql connection string, retrying a lost server for `retryFor`
    /// before an operation gives up.
    let private parse (connectionString: string) =
        try
            NpgsqlConnectionStringBuilder(connectionString)
        with :? ArgumentException as e ->
            raise (StoreException("(PostgreSQL)", sprintf "not a valid connection string: %s" e.Message))

    let private openPool
        (builder: NpgsqlConnectionStringBuilder)
        (retryFor: TimeSpan)
        (readOnly: bool)
        (ready: Store -> Store)
        =
        let source = NpgsqlDataSource.Create builder
        // A refusal that retrying cannot cure (wrong password, no such database) is said at once, naming the store.
        try
            ready (new Store(Dialect.postgres, Pool source, describe builder, retryFor, readOnly))
        with :? PostgresException as e ->
            raise (StoreException(describe builder, sprintf "the server refused: %s" e.MessageText))

    let openPostgresRetrying (retryFor: TimeSpan) (connectionString: string) : Store =
        openPool (parse connectionString) retryFor false migrated

    /// Opens a PostgreSQL store from an Npgsql connection string (`Host=…;Database=…;Username=…`).
    let openPostgres (connectionString: string) : Store = openPostgresRetrying (retryFor ()) connectionString

    /// Opens a store so that nothing can write through it, whatever the caller does: SQLite opens the
    /// file read-only (and never creates it), PostgreSQL makes every transaction of the session
    /// read-only. The schema must be this library's, since a reader cannot migrate it. A lost
    /// PostgreSQL server is retried for `retryFor` before an operation gives up.
    let openReadOnly (retryFor: TimeSpan) (location: string) : Store =
        if location.Contains("Host=", StringComparison.OrdinalIgnoreCase) then
            let builder = parse location

            builder.Options <-
                (match builder.Options with
                 | null
                 | "" -> ""
                 | options -> options + " ")
                + "-c default_transaction_read_only=on"

            openPool builder retryFor true checked'
        else
            let file = Path.GetFullPath location

            if not (File.Exists file) then
                raise (StoreException(file, "no such file: a reader opens an existing run store and never creates one"))

            checked' (fst (openSqlite file SqliteOpenMode.ReadOnly ignore))

    /// Opens a store by its location: a PostgreSQL connection string (anything with `Host=`), or else
    /// the path of a SQLite file.
    let connect (location: string) : Store =
        if location.Contains("Host=", StringComparison.OrdinalIgnoreCase) then
            openPostgres location
        else
            openAt location
