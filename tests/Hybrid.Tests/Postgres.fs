/// The throwaway PostgreSQL server the tests use: `scripts/test.fsx` starts one on 127.0.0.1 and
/// passes its administrator's connection string in HYBRID_TEST_POSTGRES. Each test gets a database
/// of its own, dropped afterwards. No mocks: the tests talk to a real server.
module Hybrid.Tests.Postgres

open System
open Expecto
open Npgsql

let private admin () =
    match Environment.GetEnvironmentVariable "HYBRID_TEST_POSTGRES" with
    | null
    | "" ->
        failtest
            "HYBRID_TEST_POSTGRES is not set: run the tests with `dotnet fsi scripts/test.fsx`, which starts a throwaway PostgreSQL server (Debian package: postgresql)"
    // A busy machine (CI's, or one running the suite beside other work) can take longer than
    // Npgsql's 15 s to open a connection or to create a database: only a server that is gone should fail.
    | connectionString ->
        NpgsqlConnectionStringBuilder(connectionString, Timeout = 300, CommandTimeout = 600).ConnectionString

let private execute (connectionString: string) (sql: string) =
    use connection = new NpgsqlConnection(connectionString)
    connection.Open()
    use command = connection.CreateCommand()
    command.CommandText <- sql
    command.ExecuteNonQuery() |> ignore

/// One value from a database, through a connection of its own.
let scalar (connectionString: string) (sql: string) : objnull =
    use connection = new NpgsqlConnection(connectionString)
    connection.Open()
    use command = connection.CreateCommand()
    command.CommandText <- sql
    command.ExecuteScalar()

/// Creates an empty database, hands its connection string to the body, and drops it afterwards.
let withDatabase (body: string -> unit) =
    let name = "hybrid_test_" + Guid.NewGuid().ToString "N"
    let server = admin ()
    execute server (sprintf "CREATE DATABASE %s" name)

    try
        body (NpgsqlConnectionStringBuilder(server, Database = name).ConnectionString)
    finally
        NpgsqlConnection.ClearAllPools()
        execute server (sprintf "DROP DATABASE %s WITH (FORCE)" name)
