/// The live dashboard in headless Chromium, over real stores: the page loads with no console error,
/// shows a trial that finishes after it opened without a reload, and survives its PostgreSQL store
/// being unreachable for a while (says so, then recovers). Screenshots go to runs/dashboard-browser-test/.
module Hybrid.Tests.DashboardBrowserTests

open System
open System.IO
open System.Net
open System.Text.Json.Nodes
open Expecto
open Npgsql
open Hybrid
open Hybrid.Tests.StoreFixtures

let private output =
    Path.GetFullPath(Path.Combine(__SOURCE_DIRECTORY__, "..", "..", "runs", "dashboard-browser-test"))

/// What the live page shows, read from its DOM.
let private inspect =
    """JSON.stringify((() => {
  const count = s => { const b = document.querySelector('.count[data-status="' + s + '"] b'); return b ? Number(b.textContent) : -1; };
  const banner = document.getElementById('connection');
  const charts = [...document.querySelectorAll('.chart')];
  return {
    completed: count('completed'),
    running: count('running'),
    lost: banner.classList.contains('lost'),
    banner: banner.textContent,
    leaderboard: document.querySelectorAll('#leaderboard tbody tr').length,
    failures: document.getElementById('failures').textContent,
    charts: charts.map(c => c.id),
    undrawn: charts.filter(c => !c.querySelector('svg.main-svg')).map(c => c.id),
    title: document.title,
    heading: document.querySelector('h1').textContent,
    notes: document.getElementById('notes').textContent
  };
})())"""

let private number (state: JsonNode) (key: string) = (state[key] |> nonNull).GetValue<int>()

let private flag (state: JsonNode) (key: string) = (state[key] |> nonNull).GetValue<bool>()

let private drawn (state: JsonNode) = (state["undrawn"] |> nonNull).AsArray().Count = 0

/// Opens the sweep's live page of a dashboard serving `location`, and gives the body the page and
/// a test of whether a URL stays on this machine: the dashboard's own, or data the page holds.
let private withLivePage (location: string) (sweep: Sweep) (body: Chromium.Page -> (string -> bool) -> unit) =
    use dashboard = DashboardServer.start location IPAddress.Loopback 0

    let local (url: string) =
        [ dashboard.Url + "/"; "data:"; "blob:"; "about:" ]
        |> List.exists (fun start -> url.StartsWith(start, StringComparison.Ordinal))

    Chromium.withPage (fun page ->
        Chromium.navigate page (dashboard.Url + DashboardPages.sweepLink sweep.Name)
        body page local)

/// A name and notes that would run script if the page ever put them into markup.
let private hostileSweep () = {
    sweepOver ("live " + ReportTests.hostile[1]) [ 4; 8 ] with
        Notes = ReportTests.hostile[0]
}

let private liveTest () =
    withStore Backend.Sqlite (fun store ->
        let sweep = hostileSweep ()
        let trials = Sweep.expand sweep
        Store.register store sweep manifest |> ignore
        Store.addTrials store sweep.Name trials
        finishNext store sweep (resultOf trials[0] Completed)
        finishNext store sweep (resultOf trials[1] Failed)
        let running = claim store sweep

        Expect.isTrue
            (Store.recordEpochsWithCheckpoint store running (historyOf trials[2] 2) (blob 8 1))
            "the running trial's epochs"

        withLivePage store.Location sweep (fun page own ->
            let opened =
                Chromium.awaitPage page inspect "the store's trials, charts drawn" (fun s ->
                    number s "completed" = 1
                    && number s "running" = 1
                    && drawn s
                    && (string s["charts"]).Contains "chart-running")

            Expect.equal (string opened["title"]) ("Live: " + sweep.Name) "the title shows the name as text"
            Expect.equal (string opened["heading"]) ("Sweep: " + sweep.Name) "the heading shows the name as text"
            Expect.equal (string opened["notes"]) sweep.Notes "the notes show as text"
            Expect.stringContains (string opened["failures"]) "out of memory" "the failure's reason"
            Expect.equal (number opened "leaderboard") 1 "one configuration has completed"
            Chromium.expectNoProblems own page.Tools.Events
            // A worker finishes the running trial after the page opened; the page must follow by itself.
            Expect.isTrue (Store.finish store running (resultOf trials[2] Completed) None) "finished under its claim"

            let finished =
                Chromium.awaitPage page inspect "the trial that finished after the page opened" (fun s ->
                    number s "completed" = 2
                    && number s "running" = 0
                    && number s "leaderboard" = 2
                    && drawn s)

            Expect.isFalse
                ((string finished["charts"]).Contains "chart-running")
                "no running curves once nothing runs"

            Chromium.screenshot page (Path.Combine(output, "live.png"))
            Chromium.expectNoProblems own page.Tools.Events))

/// Chromium logs each failed poll of the outage ("the server responded with a status of 503"):
/// those are the page doing its job; anything else is a problem.
let private outagePoll (problem: string) = problem.Contains "status of 503"

let private outageTest () =
    DashboardTests.withPostgresSweep (fun connectionString store sweep trials ->
        let direct = NpgsqlConnectionStringBuilder connectionString

        use relay =
            new Proxy.Relay(IPEndPoint(IPAddress.Parse(nonNull direct.Host), direct.Port))

        let relayed =
            NpgsqlConnectionStringBuilder(connectionString, Port = relay.Port, Timeout = 2).ConnectionString

        withLivePage relayed sweep (fun page own ->
            Chromium.awaitPage page inspect "the store's trials" (fun s ->
                number s "completed" = 1 && not (flag s "lost"))
            |> ignore

            Chromium.expectNoProblems own page.Tools.Events
            let before = page.Tools.Events.Length
            relay.Cut()

            let lost =
                Chromium.awaitPage page inspect "that the store cannot be read" (fun s -> flag s "lost")

            Expect.stringContains (string lost["banner"]) "The run store cannot be read since" "the banner says so"

            Expect.stringContains
                (string lost["banner"])
                (sprintf "postgresql://%s@" direct.Username)
                "and names the store"

            Expect.isFalse ((string lost["banner"]).Contains(nonNull direct.Password)) "never its password"
            Expect.equal (number lost "completed") 1 "the figures from before stay"
            Chromium.screenshot page (Path.Combine(output, "outage.png"))
            // Workers go on writing while the dashboard's connection is cut.
            finishNext store sweep (resultOf trials[1] Completed)
            relay.Restore()

            Chromium.awaitPage page inspect "the store again, with the trial finished meanwhile" (fun s ->
                not (flag s "lost") && number s "completed" = 2)
            |> ignore

            let duringAndAfter = page.Tools.Events |> List.skip before

            Expect.equal
                (Chromium.problems own duringAndAfter |> List.filter (outagePoll >> not))
                []
                "nothing but the outage's failed polls"))

let tests =
    testList "dashboard in the browser" [
        testCase "the page follows a trial that finishes after it opened" liveTest
        testCase "the page survives the store being unreachable" outageTest
    ]
