/// Opens a written report.html in headless Chromium and checks what a reader would get: no console
/// error, every chart drawn, nothing fetched from outside the file, no injected script run. Leaves
/// the report and a screenshot under runs/report-browser-test/ for a person to look at.
module Hybrid.Tests.BrowserTests

open System
open System.IO
open System.Text.Json.Nodes
open Expecto
open Hybrid

/// Counts charts and those plotly.js drew (each draws an svg.main-svg), and what injected markup would show.
let private inspect =
    """JSON.stringify((() => {
  const charts = [...document.querySelectorAll('.chart')];
  return {
    charts: charts.length,
    missing: charts.filter(c => !c.querySelector('svg.main-svg') || c.textContent.includes('WebGL is not supported')).map(c => c.id),
    entities: charts.filter(c => /&(lt|gt|amp|quot);/.test(c.textContent)).map(c => c.id),
    images: document.images.length,
    externalScripts: document.querySelectorAll('script[src]').length,
    outsideLinks: [...document.querySelectorAll('[src], [href]')].map(e => e.getAttribute('src') || e.getAttribute('href')).filter(u => /^\s*(https?:)?\/\//i.test(u)),
    title: document.title,
    confusion: (document.getElementById('chart-confusion') || { textContent: '' }).textContent,
    prunedRows: [...document.querySelectorAll('table.configurations tr.pruned')].map(r => r.cells[0].textContent + ' ' + getComputedStyle(r.cells[0]).color),
    decisions: document.querySelectorAll('table.decisions tbody tr').length,
    budget: (document.getElementById('chart-budget') || { textContent: '' }).textContent
  };
})())"""

let private output =
    Path.GetFullPath(Path.Combine(__SOURCE_DIRECTORY__, "..", "..", "runs", "report-browser-test"))

let private browserTest () =
    Chromium.withPage (fun page ->
        let hostile = String.concat "" ReportTests.hostile
        let paths = Report.write output (ReportTests.searched hostile)
        Chromium.navigate page (Uri(paths.Html).AbsoluteUri)

        let drawn (state: JsonNode) = (state["missing"] |> nonNull).AsArray().Count = 0

        let state = Chromium.awaitPage page inspect "every chart drawn" drawn
        // A chart's deferred work (timers, animation frames) may still log an error: wait until the
        // page has run a frame and then a timer queued after everything already queued.
        page.Call "Runtime.evaluate" {|
            expression = "new Promise(done => requestAnimationFrame(() => setTimeout(done)))"
            awaitPromise = true
        |}
        |> ignore

        let screenshot = Path.Combine(output, "screenshot.png")
        Chromium.screenshot page screenshot
        printfn "browser test: report %s, screenshot %s" paths.Html screenshot

        let local (url: string) =
            [ "file:"; "data:"; "blob:"; "about:" ]
            |> List.exists (fun scheme -> url.StartsWith(scheme, StringComparison.Ordinal))

        Chromium.expectNoProblems local page.Tools.Events
        let text = Chromium.text

        Expect.equal
            (text state["charts"] |> int)
            8
            "learning curves, parallel coordinates, 3 settings, budget curve, proposals, confusion matrix"

        Expect.equal (text state["missing"]) "[]" "charts not drawn (no svg.main-svg, or 'WebGL is not supported')"
        Expect.equal (text state["images"]) "0" "no <img> got in"
        Expect.equal (text state["externalScripts"]) "0" "no <script src>"
        Expect.equal (text state["outsideLinks"]) "[]" "no element links outside the file"

        Expect.equal
            (text state["title"])
            ("Sweep report: digits widths " + hostile)
            "the title shows the name as text"

        Expect.stringContains
            (text state["confusion"])
            "<script>alert(1)</script>"
            "the confusion matrix shows the class name as text"

        Expect.equal (text state["entities"]) "[]" "no chart shows an entity such as &lt; (text encoded twice)"

        Expect.equal
            (text state["prunedRows"])
            "[\"#0 rgb(140, 149, 159)\",\"#4 rgb(140, 149, 159)\"]"
            "the pruned configurations' rows, greyed"

        Expect.equal (text state["decisions"]) "2" "one row per decision"
        Expect.stringContains (text state["budget"]) "epochs spent" "the budget curve is drawn with its axis")

let tests =
    testList "browser" [ testCase "report.html in headless Chromium" browserTest ]
