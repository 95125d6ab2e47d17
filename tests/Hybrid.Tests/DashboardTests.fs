/// The live dashboard: its strict query parsing, its answers to bad requests, a store it can only
/// read, a taken port, and in headless Chromium a page that follows a real store as trials finish
/// and as the store goes away and comes back.
module Hybrid.Tests.DashboardTests

open System
open System.IO
open System.Net
open System.Net.Http
open System.Net.Sockets
open System.Text.Json.Nodes
open Expecto
open Plotly.NET
open Hybrid
open Hybrid.Tests.StoreFixtures

// ---- The query string ----

let private accepted = [
    "?name=digits", "digits"
    "?name=a%20b+c", "a b c"
    "?name=%3Cscript%3E%26", "<script>&"
    "?name=r%C3%A9sum%C3%A9", "résumé"
    "name=digits&", "digits"
]

let private refused = [
    "", "names no sweep"
    "?name=", "is empty"
    "?name=%ZZ", "'%' at character 6 is not followed by two hexadecimal digits"
    "?name=abc%4", "'%' at character 9"
    "?name=%FF", "not UTF-8"
    "?name=a&name=b", "names 2 sweeps"
    "?name=a&limit=3", "unknown query parameter 'limit'"
]

let private queryTests =
    testList "query string" [
        for query, name in accepted ->
            testCase (sprintf "%s reads as %s" query name) (fun () ->
                Expect.equal (DashboardQuery.sweepName query) (Ok name) "the decoded name")
        for query, problem in refused ->
            testCase (sprintf "'%s' is refused" query) (fun () ->
                match DashboardQuery.sweepName query with
                | Error message -> Expect.stringContains message problem "the message says what is wrong"
                | Ok name -> failtestf "accepted as %s" name)
    ]

// ---- Answers to requests, without a server ----

let private request (path: string) (query: string) = { Method = "GET"; Host = "127.0.0.1"; Path = path; Query = query }

/// The answer to a request against a read-only view of the store.
let private answerOn (location: string) (request: DashboardRequest) =
    let opened = lazy (Store.openReadOnly (TimeSpan.FromSeconds 1.0) location)

    try
        DashboardRoutes.answer
            {
                Listening = "127.0.0.1"
                Store = (fun () -> opened.Value)
                Figures = DashboardFigures()
                Latest = DashboardLatest()
            }
            request
    finally
        if opened.IsValueCreated then
            (opened.Value :> IDisposable).Dispose()

let private expectAnswer (response: DashboardResponse) (status: int) (phrase: string) =
    Expect.equal response.Status status "HTTP status"
    Expect.stringContains response.Body phrase "the answer says what is wrong"
    Expect.isFalse (response.Body.Contains " at Hybrid.") "no stack trace"

let private answerTests =
    let withSmall body = withSweep Backend.Sqlite (fun store sweep _ -> body store.Location sweep)

    testList "answers" [
        testCase "a sweep that does not exist: 404 naming the sweeps there" (fun () ->
            withSmall (fun location _ ->
                expectAnswer
                    (answerOn location (request "/api/sweep" "?name=nope"))
                    404
                    "holds no sweep named \\u0027nope\\u0027 (sweeps there: small)"

                expectAnswer
                    (answerOn location (request "/sweep" "?name=nope"))
                    404
                    "holds no sweep named &#39;nope&#39;"))
        testCase "a malformed query string: 400 saying why" (fun () ->
            withSmall (fun location _ ->
                expectAnswer (answerOn location (request "/api/sweep" "?name=%ZZ")) 400 "(expected %XX)"

                expectAnswer
                    (answerOn location (request "/sweep" "?sweep=small"))
                    400
                    "unknown query parameter &#39;sweep&#39;"))
        testCase "a store that cannot be opened: 503 naming it" (fun () ->
            withDir (fun dir ->
                let missing = Path.Combine(dir, "absent.db")
                expectAnswer (answerOn missing (request "/" "")) 503 (ReportHtml.encode missing)
                Expect.isFalse (File.Exists missing) "the reader created no store"))
        testCase "a write method: 405" (fun () ->
            withSmall (fun location _ ->
                expectAnswer (answerOn location { request "/" "" with Method = "POST" }) 405 "only reads"))
        testCase "another host's name (DNS rebinding): 421" (fun () ->
            withSmall (fun location _ ->
                expectAnswer
                    (answerOn location { request "/" "" with Host = "attacker.example" })
                    421
                    "attacker.example"))
        testCase "a page that does not exist: 404" (fun () ->
            withSmall (fun location _ ->
                expectAnswer (answerOn location (request "/admin" "")) 404 "There is no page /admin"))
        testCase "a sweep's data: counts, leaderboard, failures and charts" (fun () ->
            withSweep Backend.Sqlite (fun store sweep trials ->
                finishNext store sweep (resultOf trials[0] Completed)
                finishNext store sweep (resultOf trials[1] Failed)
                let running = claim store sweep

                Expect.isTrue
                    (Store.recordEpochsWithCheckpoint store running (historyOf trials[2] 2) (blob 8 1))
                    "epochs recorded"

                let response = answerOn store.Location (request "/api/sweep" "?name=small")
                Expect.equal response.Status 200 "HTTP status"
                let data = JsonNode.Parse(response.Body) |> nonNull

                let count status =
                    let entry =
                        (data["counts"] |> nonNull).AsArray()
                        |> Seq.find (fun c -> string ((nonNull c)["status"]) = status)
                        |> nonNull

                    (entry["count"] |> nonNull).GetValue<int>()

                Expect.equal
                    [ count "completed"; count "failed"; count "running"; count "pending" ]
                    [ 1; 1; 1; 5 ]
                    "counts by status"

                let rows = (data["leaderboard"] |> nonNull)["rows"] |> nonNull
                Expect.equal (rows.AsArray().Count) 1 "one configuration on the leaderboard"

                Expect.stringContains
                    (((data["failures"] |> nonNull)["rows"] |> nonNull).ToJsonString())
                    "out of memory"
                    "the failure's reason"

                let charts =
                    (data["charts"] |> nonNull).AsArray()
                    |> Seq.map (fun c -> string ((nonNull c)["id"]))
                    |> List.ofSeq

                Expect.equal
                    charts
                    [
                        "chart-running"
                        "chart-learning"
                        "chart-parallel"
                        "chart-setting-0"
                        "chart-setting-1"
                    ]
                    "the report's charts, and the running trials'"))
    ]

let private figureTests =
    testList "figures" [
        testCase "a figure is drawn again only when its data changed" (fun () ->
            let figures = DashboardFigures()
            let mutable draws = 0

            let figure (data: float list) =
                figures.Figure(
                    "sweep",
                    "chart",
                    data,
                    fun () ->
                        draws <- draws + 1
                        Chart.Line(List.indexed data)
                )
                |> string

            let first = figure [ 1.0; nan ]
            Expect.equal (figure [ 1.0; nan ]) first "equal data (NaN included): the same figure"
            Expect.equal draws 1 "drawn once"
            Expect.notEqual (figure [ 1.0; 2.0 ]) first "changed data: a new figure"
            Expect.equal draws 2 "drawn again")
    ]

// ---- A store the dashboard cannot write ----

/// Writes through the reader fail, and the store (seen through its writer) is as it was.
let private expectRefusesWrites (store: Store) (reader: Store) (sweep: Sweep) =
    Expect.isTrue reader.ReadOnly "opened read-only"

    Expect.equal
        (Store.results reader sweep.Name)
        (Store.results store sweep.Name)
        "it reads every trial as the writer does"

    Expect.throws
        (fun () -> Store.register reader (sweepOver "another" [ 2 ]) manifest |> ignore)
        "registering a sweep through it"

    Expect.throws
        (fun () -> Store.claimNext reader sweep.Name Worker.current patient |> ignore)
        "claiming a trial through it"

    Expect.equal (Store.sweepNames store) [ sweep.Name ] "no sweep was added"
    Expect.equal (Store.counts store sweep.Name).Running 0 "no trial was claimed"

/// A fresh PostgreSQL database holding the small sweep with its first trial completed; the body
/// gets the database's connection string too.
let withPostgresSweep (body: string -> Store -> Sweep -> Trial list -> unit) =
    Postgres.withDatabase (fun connectionString ->
        use store = Store.openPostgres connectionString
        let sweep = small ()
        let trials = Sweep.expand sweep
        Store.register store sweep manifest |> ignore
        Store.addTrials store sweep.Name trials
        finishNext store sweep (resultOf trials[0] Completed)
        body connectionString store sweep trials)

let private readOnlyTests =
    testList "read-only store" [
        testCase "SQLite: the file refuses every write" (fun () ->
            withSweep Backend.Sqlite (fun store sweep trials ->
                finishNext store sweep (resultOf trials[0] Completed)
                use reader = Store.openReadOnly (TimeSpan.FromSeconds 1.0) store.Location
                expectRefusesWrites store reader sweep))
        testCase "PostgreSQL: the session refuses every write" (fun () ->
            withPostgresSweep (fun connectionString store sweep _ ->
                use reader = Store.openReadOnly (TimeSpan.FromSeconds 1.0) connectionString
                expectRefusesWrites store reader sweep))
        testCase "a missing SQLite file is refused, not created" (fun () ->
            withDir (fun dir ->
                let file = Path.Combine(dir, "none.db")

                let e: StoreException =
                    Common.raised (fun () -> Store.openReadOnly TimeSpan.Zero file |> ignore)

                Expect.stringContains e.Message "never creates one" "the reason"
                Expect.isFalse (File.Exists file) "no file created"))
    ]

// ---- The server ----

let private serverTests =
    testList "server" [
        testCase "a port in use: a message naming it" (fun () ->
            withSweep Backend.Sqlite (fun store _ _ ->
                let taken = new TcpListener(IPAddress.Loopback, 0)
                taken.Start()

                try
                    let port = (taken.LocalEndpoint :?> IPEndPoint).Port

                    let e: DashboardException =
                        Common.raised (fun () ->
                            DashboardServer.start store.Location IPAddress.Loopback port |> ignore)

                    Expect.stringContains
                        e.Message
                        (sprintf "127.0.0.1 port %d: the port is already in use" port)
                        "names address and port"
                finally
                    taken.Stop()))
        testCase "HTTP: security headers, a 400 and a 404 as JSON" (fun () ->
            withSweep Backend.Sqlite (fun store _ _ ->
                use dashboard = DashboardServer.start store.Location IPAddress.Loopback 0
                use client = new HttpClient()

                let get (path: string) = client.GetAsync(dashboard.Url + path).Result

                use page = get "/sweep?name=small"
                Expect.equal page.StatusCode HttpStatusCode.OK "the sweep's page"
                Expect.stringContains (string page.Headers) "default-src 'none'" "a content-security policy"
                // HttpClient would escape a bare '%' itself; bytes that are not UTF-8 reach the server as sent.
                use malformed = get "/api/sweep?name=%FF"
                Expect.equal malformed.StatusCode HttpStatusCode.BadRequest "a malformed query string"
                Expect.stringContains (malformed.Content.ReadAsStringAsync().Result) "\"error\"" "a JSON error"
                use missing = get "/api/sweep?name=nope"
                Expect.equal missing.StatusCode HttpStatusCode.NotFound "a sweep that does not exist"))
    ]

let tests =
    testList "dashboard" [ queryTests; answerTests; figureTests; readOnlyTests; serverTests ]
