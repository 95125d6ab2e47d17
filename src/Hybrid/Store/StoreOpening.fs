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
                raise (InvalidFileException(file, "bytes 0-15", "not a SQLite database: the file does not start with the header \"SQLite format 3\""))

    let private pragma (connection: SqliteConnection) (sql: string) =
        use c = connection.CreateCommand()
        c.CommandText <- sql
        c.ExecuteScalar() |> ignore

    /// How long a worker retries a lost PostgreSQL server before giving up: HYBRID_STORE_RETRY_SECONDS, or 120.
    let private retryFor () =
        match Double.TryParse(Environment.GetEnvironmentVariable "HYBRID_STORE_RETRY_SECONDS", NumberStyles.Float, CultureInfo.InvariantCulture) with
        | true, seconds when seconds >= 0.0 -> TimeSpan.FromSeconds seconds
        | _ -> TimeSpan.FromSeconds 120.0

    let private migrated (store: Store) =
        try
            StoreSchema.migrate store
            store
        with _ ->
            (store :> IDisposable).Dispose()
            reraise ()

    /// Opens the SQLite store at a path, creating the directory and the database if missing and
    /// bringing an older schema up to date. A file that is not a SQLite database is refused with an
    /// InvalidFileException; one that is not a run store, or has a newer schema, with a StoreException.
    let openAt (path: string) : Store =
        let file = Path.GetFullPath path
        match Path.GetDirectoryName file with
        | null -> ()
        | directory -> Directory.CreateDirectory directory |> ignore
        checkHeader file
        // Several processes may share one file: a writer waits up to 30 s for another's transaction.
        let builder = SqliteConnectionStringBuilder(DataSource = file, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = false, DefaultTimeout = 30)
        let connection = new SqliteConnection(builder.ConnectionString)
        let store = new Store(Dialect.sqlite, OneConnection connection, file, retryFor ())
        try
            connection.Open()
            pragma connection "PRAGMA journal_mode = WAL"
            // FULL: a commit survives a power cut too, not only a killed process; trials commit rarely.
            pragma connection "PRAGMA synchronous = FULL"
            // Off while migrating, whatever the SQLite build's default: version 3 rebuilds the trials
            // table, and dropping the old one would otherwise fail on the epochs that reference it.
            pragma connection "PRAGMA foreign_keys = OFF"
        with
        | :? SqliteException as e when e.SqliteErrorCode = 26 (* SQLITE_NOTADB *) || e.SqliteErrorCode = 11 (* SQLITE_CORRUPT *) ->
            (store :> IDisposable).Dispose()
            raise (InvalidFileException(file, "", sprintf "not a valid SQLite database (%s)" e.Message))
        | :? SqliteException as e when Files.isDiskFault e ->
            (store :> IDisposable).Dispose()
            raise (Files.cannotWrite file e)
        | _ ->
            (store :> IDisposable).Dispose()
            reraise ()
        Files.explainingDiskFaults file (fun () ->
            let store = migrated store
            // after migrating: a migration that rebuilds a table must not have its rows' references checked midway
            pragma connection "PRAGMA foreign_keys = ON"
            store)

    /// Where a PostgreSQL store is, for messages and reports: user, server and database, never the password.
    let private describe (builder: NpgsqlConnectionStringBuilder) =
        sprintf "postgresql://%s@%s:%d/%s" (string builder.Username) (string builder.Host) builder.Port (string builder.Database)

    /// Opens a PostgreSQL store from an Npgsql connection string, retrying a lost server for `retryFor`
    /// before an operation gives up.
    let openPostgresRetrying (retryFor: TimeSpan) (connectionString: string) : Store =
        let builder =
            try NpgsqlConnectionStringBuilder(connectionString)
            with :? ArgumentException as e -> raise (StoreException("(PostgreSQL)", sprintf "not a valid connection string: %s" e.Message))
        let source = NpgsqlDataSource.Create builder
        // A refusal that retrying cannot cure (wrong password, no such database) is said at once, naming the store.
        try migrated (new Store(Dialect.postgres, Pool source, describe builder, retryFor))
        with :? PostgresException as e -> raise (StoreException(describe builder, sprintf "the server refused: %s" e.MessageText))

    /// Opens a PostgreSQL store from an Npgsql connection string (`Host=…;Database=…;Username=…`).
    let openPostgres (connectionString: string) : Store = openPostgresRetrying (retryFor ()) connectionString

    /// Opens a store by its location: a PostgreSQL connection string (anything with `Host=`), or else
    /// the path of a SQLite file.
    let connect (location: string) : Store =
        if location.Contains("Host=", StringComparison.OrdinalIgnoreCase) then openPostgres location else openAt location
