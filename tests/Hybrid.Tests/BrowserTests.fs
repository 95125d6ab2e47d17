/// Opens a written report.html in headless Chromium (Debian's `chromium`) over the Chrome DevTools
/// Protocol, and checks what a reader would get: no console error, every chart drawn, nothing
/// fetched from outside the file, no injected script run. Leaves the report and a screenshot under
/// runs/report-browser-test/ for a person to look at.
module Hybrid.Tests.BrowserTests

open System
open System.Collections.Concurrent
open System.Diagnostics
open System.IO
open System.Net.WebSockets
open System.Text
open System.Text.Json
open System.Text.Json.Nodes
open System.Text.RegularExpressions
open System.Threading
open System.Threading.Tasks
open Expecto
open Hybrid

let private chromium = "/usr/bin/chromium"
let private timeout = TimeSpan.FromSeconds 30.0

let private output =
    Path.GetFullPath(Path.Combine(__SOURCE_DIRECTORY__, "..", "..", "runs", "report-browser-test"))

let private text (node: JsonNode | null) =
    match node with
    | null -> ""
    | node when node.GetValueKind() = JsonValueKind.String -> node.GetValue<string>()
    | node -> node.ToJsonString()

/// The text at a path of keys in a DevTools message; empty where the path leads nowhere.
let rec private field (node: JsonNode | null) (path: string list) =
    match node, path with
    | null, _ -> ""
    | node, [] -> text node
    | node, key :: rest -> field node[key] rest

/// A minimal DevTools client over one WebSocket: commands wait for the reply with their id; every
/// event is kept in arrival order.
type private DevTools(socket: ClientWebSocket) =
    let replies = ConcurrentDictionary<int, TaskCompletionSource<JsonNode>>()
    let events = ConcurrentQueue<JsonNode>()
    let mutable lastId = 0

    let receiving =
        task {
            let buffer = Array.zeroCreate<byte> 65536
            use message = new MemoryStream()
            try
                while socket.State = WebSocketState.Open do
                    let! result = socket.ReceiveAsync(ArraySegment buffer, CancellationToken.None)
                    message.Write(buffer, 0, result.Count)
                    if result.EndOfMessage && result.MessageType = WebSocketMessageType.Text then
                        match JsonNode.Parse(message.ToArray()) with
                        | null -> ()
                        | node ->
                            match node["id"] with
                            | null -> events.Enqueue node
                            | id ->
                                match replies.TryRemove(id.GetValue<int>()) with
                                | true, reply -> reply.SetResult node
                                | _ -> ()
                        message.SetLength 0
            with
            | :? WebSocketException
            | :? OperationCanceledException -> ()
        }

    member _.Events = List.ofSeq events

    /// Sends a command (to a page when `session` is given) and returns its result.
    member _.Send(method: string, parameters: obj, ?session: string) : JsonNode =
        let id = Interlocked.Increment &lastId
        let reply = TaskCompletionSource<JsonNode>(TaskCreationOptions.RunContinuationsAsynchronously)
        replies[id] <- reply
        let target = session |> Option.map (sprintf ",\"sessionId\":\"%s\"") |> Option.defaultValue ""
        let message = sprintf "{\"id\":%d,\"method\":\"%s\",\"params\":%s%s}" id method (JsonSerializer.Serialize parameters) target
        socket.SendAsync(ArraySegment(Encoding.UTF8.GetBytes message), WebSocketMessageType.Text, true, CancellationToken.None).Wait timeout |> ignore
        if not (reply.Task.Wait timeout) then failtestf "DevTools did not answer %s within %O" method timeout
        let answer = reply.Task.Result
        match answer["error"] with
        | null -> answer["result"] |> nonNull
        | error -> failtestf "DevTools %s failed: %s" method (error.ToJsonString())

    /// Waits for an event of the given method and returns its parameters. A dialog blocks the page,
    /// so one (an injected alert) ends the wait at once.
    member this.WaitFor(method: string) : JsonNode =
        let deadline = DateTime.UtcNow + timeout
        let rec poll () =
            match this.Events |> List.tryFind (fun e -> text e["method"] = method || text e["method"] = "Page.javascriptDialogOpening") with
            | Some e when text e["method"] <> method -> failtestf "a dialog opened, so injected script ran: %s" ((e["params"] |> nonNull).ToJsonString())
            | Some e -> e["params"] |> nonNull
            | None when DateTime.UtcNow > deadline -> failtestf "no %s event within %O" method timeout
            | None ->
                Thread.Sleep 50
                poll ()
        poll ()

    /// Sends a command without waiting for a reply (Browser.close may never send one).
    member _.Post(method: string) =
        let id = Interlocked.Increment &lastId
        let message = sprintf "{\"id\":%d,\"method\":\"%s\",\"params\":{}}" id method
        socket.SendAsync(ArraySegment(Encoding.UTF8.GetBytes message), WebSocketMessageType.Text, true, CancellationToken.None).Wait timeout |> ignore

    member _.Close() =
        if socket.State = WebSocketState.Open then
            try
                socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None).Wait timeout |> ignore
            with :? AggregateException -> ()
        receiving.Wait timeout |> ignore

/// Starts Chromium and returns it with the browser's DevTools WebSocket address from its stderr.
let private launch (profile: string) =
    let info = ProcessStartInfo(chromium, RedirectStandardError = true, RedirectStandardOutput = true)
    // SwiftShader gives WebGL without a GPU: the parallel-coordinates chart needs it.
    [ "--headless"; "--no-sandbox"; "--disable-gpu"; "--use-angle=swiftshader"; "--enable-unsafe-swiftshader"
      "--disable-quic"; "--no-first-run"; "--disable-background-networking"
      "--disable-component-update"; "--disable-sync"; "--disable-dev-shm-usage"; "--hide-scrollbars"; "--mute-audio"
      "--user-data-dir=" + profile; "--remote-debugging-port=0"; "about:blank" ]
    |> List.iter info.ArgumentList.Add
    let browser = Process.Start info |> nonNull
    let stderr = ConcurrentQueue<string>()
    let address = TaskCompletionSource<string>()
    browser.ErrorDataReceived.Add(fun e ->
        match e.Data with
        | null -> ()
        | line ->
            stderr.Enqueue line
            let m = Regex.Match(line, @"DevTools listening on (ws://\S+)")
            if m.Success then address.TrySetResult m.Groups[1].Value |> ignore)
    browser.OutputDataReceived.Add ignore
    browser.BeginErrorReadLine()
    browser.BeginOutputReadLine()
    if not (address.Task.Wait timeout) then
        browser.Kill true
        failtestf "%s printed no DevTools address within %O; its stderr:\n%s" chromium timeout (String.concat "\n" stderr)
    browser, address.Task.Result

let private requireChromium () =
    if not (File.Exists chromium) then
        if Environment.GetEnvironmentVariable "CI" = "true" then
            failtestf "%s is missing: .ci/run must install Debian's chromium package (apt-get install -y chromium)" chromium
        else
            skiptest (sprintf "%s is not installed (apt-get install -y chromium); browser test skipped" chromium)

/// Counts charts and those plotly.js drew (each draws an svg.main-svg), and what injected markup would show.
let private inspect =
    """JSON.stringify((() => {
  const charts = [...document.querySelectorAll('.chart')];
  return {
    charts: charts.length,
    missing: charts.filter(c => !c.querySelector('svg.main-svg') || c.textContent.includes('WebGL is not supported')).map(c => c.id),
    entities: charts.filter(c => /&(lt|gt|amp|quot);/.test(c.textContent)).map(c => c.id),
    parallel: (document.getElementById('chart-parallel') || { textContent: '' }).textContent,
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

let private browserTest () =
    requireChromium ()
    let hostile = String.concat "" ReportTests.hostile
    let input = ReportTests.searched hostile
    let paths = Report.write output input
    let profile = Path.Combine(Path.GetTempPath(), "hybrid-chromium-" + Guid.NewGuid().ToString "N")
    let browser, address = launch profile
    use socket = new ClientWebSocket()
    try
        if not (socket.ConnectAsync(Uri address, CancellationToken.None).Wait timeout) then failtestf "could not connect to %s" address
        let devTools = DevTools socket
        try
            let target = devTools.Send("Target.createTarget", {| url = "about:blank" |})
            let attached = devTools.Send("Target.attachToTarget", {| targetId = text target["targetId"]; flatten = true |})
            let session = text attached["sessionId"]
            let page (method: string) (parameters: obj) = devTools.Send(method, parameters, session)
            for domain in [ "Runtime"; "Log"; "Network"; "Page" ] do
                page (domain + ".enable") {| |} |> ignore
            // The report's Content-Security-Policy blocks quietly; make each violation a console error.
            page
                "Page.addScriptToEvaluateOnNewDocument"
                {| source = "document.addEventListener('securitypolicyviolation', e => console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI))" |}
            |> ignore
            page "Emulation.setDeviceMetricsOverride" {| width = 1200; height = 900; deviceScaleFactor = 1; mobile = false |} |> ignore
            page "Page.navigate" {| url = Uri(paths.Html).AbsoluteUri |} |> ignore
            devTools.WaitFor "Page.loadEventFired" |> ignore
            let evaluate () =
                let result = page "Runtime.evaluate" {| expression = inspect; returnByValue = true |}
                let value = (result["result"] |> nonNull)["value"]
                JsonNode.Parse(text value) |> nonNull
            let deadline = DateTime.UtcNow + timeout
            let mutable state = evaluate ()
            while (state["missing"] |> nonNull).AsArray().Count > 0 && DateTime.UtcNow < deadline do
                Thread.Sleep 100
                state <- evaluate ()
            // Late events (a chart's deferred work) get a moment to arrive.
            Thread.Sleep 500
            let metrics = page "Page.getLayoutMetrics" {| |}
            let content = metrics["cssContentSize"] |> nonNull
            let height = (content["height"] |> nonNull).GetValue<float>()
            let shot =
                page "Page.captureScreenshot" {| format = "png"; captureBeyondViewport = true; clip = {| x = 0; y = 0; width = 1200; height = height; scale = 1 |} |}
            let screenshot = Path.Combine(output, "screenshot.png")
            File.WriteAllBytes(screenshot, Convert.FromBase64String(text shot["data"]))
            printfn "browser test: report %s, screenshot %s" paths.Html screenshot

            let problems =
                devTools.Events
                |> List.choose (fun e ->
                    let at = field e["params"]
                    match text e["method"] with
                    | "Runtime.consoleAPICalled" when at [ "type" ] = "error" || at [ "type" ] = "assert" ->
                        Some("console error: " + at [ "args" ])
                    | "Runtime.exceptionThrown" -> Some("exception: " + at [ "exceptionDetails"; "text" ] + " " + at [ "exceptionDetails"; "exception"; "description" ])
                    | "Log.entryAdded" when at [ "entry"; "level" ] = "error" -> Some("log error: " + at [ "entry"; "text" ] + " " + at [ "entry"; "url" ])
                    | "Network.requestWillBeSent" ->
                        let url = at [ "request"; "url" ]
                        if [ "file:"; "data:"; "blob:"; "about:" ] |> List.exists (fun scheme -> url.StartsWith(scheme, StringComparison.Ordinal)) then None else Some("request leaving the file: " + url)
                    | "Page.javascriptDialogOpening" -> Some("a dialog opened (injected script ran): " + at [ "message" ])
                    | _ -> None)
            if not problems.IsEmpty then
                failtestf "the page had console errors, exceptions, outside requests or dialogs:\n%s" (String.concat "\n" problems)
            Expect.equal (text state["charts"] |> int) 8 "learning curves, parallel coordinates, 3 settings, budget curve, proposals, confusion matrix"
            Expect.equal (text state["missing"]) "[]" "charts not drawn (no svg.main-svg, or 'WebGL is not supported')"
            Expect.equal (text state["prunedRows"]) "[\"#0 rgb(140, 149, 159)\",\"#4 rgb(140, 149, 159)\"]" "the pruned configurations' rows, greyed"
            Expect.equal (text state["decisions"]) "2" "one row per decision"
            Expect.stringContains (text state["budget"]) "epochs spent" "the budget curve is drawn with its axis"
            Expect.equal (text state["images"]) "0" "no <img> got in"
            Expect.equal (text state["externalScripts"]) "0" "no <script src>"
            Expect.equal (text state["outsideLinks"]) "[]" "no element links outside the file"
            Expect.equal (text state["title"]) ("Sweep report: digits widths " + hostile) "the title shows the name as text"
            Expect.stringContains (text state["confusion"]) "<script>alert(1)</script>" "the confusion matrix shows the class name as text"
            Expect.stringContains (text state["parallel"]) "<script>alert(1)</script>" "parallel coordinates show the value as text"
            Expect.equal (text state["entities"]) "[]" "no chart shows an entity such as &lt; (text encoded twice)"
        finally
            devTools.Post "Browser.close"
            devTools.Close()
    finally
        if not (browser.WaitForExit 10000) then browser.Kill true
        browser.Dispose()
        try
            Directory.Delete(profile, true)
        with :? IOException -> ()

let tests = testList "browser" [ testCase "report.html in headless Chromium" browserTest ]
