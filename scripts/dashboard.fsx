// The live dashboard: serves the report of every sweep in a run store over HTTP, and the page keeps
// itself up to date while workers (on this machine or others) run trials. It only reads the store.
// Usage: dotnet fsi scripts/dashboard.fsx [-- [store] [--port 8050] [--address 127.0.0.1]]
//   store: a SQLite file or a PostgreSQL connection string; default HYBRID_STORE, else
//   runs/digits/sweep.db (where scripts/sweep.fsx keeps its trials).
// Listens on 127.0.0.1 (this machine only) unless --address says otherwise. With HYBRID_SMOKE=1 (as
// scripts/test.fsx runs every script) it starts on a free port, asks itself for its first page and stops.
#load "_build.fsx"
#load "_load.fsx"

open System
open System.Net
open Hybrid

let usage =
    "usage: dotnet fsi scripts/dashboard.fsx -- [store] [--port N] [--address IP]"

let fail (message: string) =
    eprintfn "%s\n%s" message usage
    exit 2

let rec parse (store, port, address) arguments =
    match arguments with
    | [] -> store, port, address
    | "--port" :: value :: rest ->
        match Int32.TryParse value with
        | true, p when p >= 0 && p <= 65535 -> parse (store, p, address) rest
        | _ -> fail (sprintf "--port: expected a port number from 0 to 65535, found '%s'" value)
    | "--address" :: value :: rest ->
        match IPAddress.TryParse value with
        | true, a -> parse (store, port, a) rest
        | _ -> fail (sprintf "--address: expected an IP address such as 127.0.0.1, found '%s'" value)
    | option :: _ when option.StartsWith "--" -> fail (sprintf "unknown option or missing value: %s" option)
    | location :: rest -> parse (Some location, port, address) rest

let location, port, address =
    parse (None, 8050, IPAddress.Loopback) (List.ofArray fsi.CommandLineArgs |> List.tail)

let smoke = Environment.GetEnvironmentVariable "HYBRID_SMOKE" = "1"

let store =
    match location, Environment.GetEnvironmentVariable "HYBRID_STORE" with
    | Some location, _ -> location
    | None, (null | "") -> IO.Path.Combine(directoryOf (if smoke then "digits-smoke" else "digits"), "sweep.db")
    | None, variable -> variable

/// The smoke run's check: the server answers its first page, with the sweeps or (when no sweep has
/// made the store yet) a page saying it cannot be read; anything else fails.
let smokeTest () =
    use dashboard = DashboardServer.start store address 0
    use client = new Net.Http.HttpClient()
    use response = client.GetAsync(dashboard.Url + "/").Result
    printfn "smoke: GET %s/ answered %d %O" dashboard.Url (int response.StatusCode) response.StatusCode

    if
        response.StatusCode <> HttpStatusCode.OK
        && response.StatusCode <> HttpStatusCode.ServiceUnavailable
    then
        exit 1

if not (IPAddress.IsLoopback address) then
    eprintfn "warning: listening on %O: anyone who can reach this machine can read the store's results" address

try
    if smoke then smokeTest () else DashboardServer.run store address port
with :? DashboardException as e ->
    eprintfn "%s" e.Message
    exit 1
