/// Headless Chromium (Debian's `chromium`) driven over the Chrome DevTools Protocol, for the tests
/// that check what a reader of a page would get: console errors, requests, the DOM, a screenshot.
module Hybrid.Tests.Chromium

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

let chromium = "/usr/bin/chromium"
/// How long a DevTools command, a page event or a state of the page may take: generous, since a
/// busy machine can take a minute to load plotly.js.
let timeout = TimeSpan.FromSeconds 180.0

let text (node: JsonNode | null) =
    match node with
    | null -> ""
    | node when node.GetValueKind() = JsonValueKind.String -> node.GetValue<string>()
    | node -> node.ToJsonString()

/// The text at a path of keys in a DevTools message; empty where the path leads nowhere.
let rec field (node: JsonNode | null) (path: string list) =
    match node, path with
    | null, _ -> ""
    | node, [] -> text node
    | node, key :: rest -> field node[key] rest

/// A minimal DevTools client over one WebSocket: commands wait for the reply with their id; every
/// event is kept in arrival order.
type DevTools(socket: ClientWebSocket) =
    let replies = ConcurrentDictionary<int, TaskCompletionSource<JsonNode>>()
    let events = ConcurrentQueue<JsonNode>()
    let mutable lastId = 0

    let receiving = task {
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

    let sendText (message: string) =
        socket
            .SendAsync(
                ArraySegment(Encoding.UTF8.GetBytes message),
                WebSocketMessageType.Text,
                true,
                CancellationToken.None
            )
            .Wait
            timeout
        |> ignore

    member _.Events = List.ofSeq events

    /// Sends a command (to a page when `session` is given) and returns its result.
    member _.Send(method: string, parameters: obj, ?session: string) : JsonNode =
        let id = Interlocked.Increment &lastId

        let reply =
            TaskCompletionSource<JsonNode>(TaskCreationOptions.RunContinuationsAsynchronously)

        replies[id] <- reply

        let target =
            session
            |> Option.map (sprintf ",\"sessionId\":\"%s\"")
            |> Option.defaultValue ""

        let message =
            sprintf
                "{\"id\":%d,\"method\":\"%s\",\"params\":%s%s}"
                id
                method
                (JsonSerializer.Serialize parameters)
                target

        sendText message

        if not (reply.Task.Wait timeout) then
            failtestf "DevTools did not answer %s within %O" method timeout

        let answer = reply.Task.Result

        match answer["error"] with
        | null -> answer["result"] |> nonNull
        | error -> failtestf "DevTools %s failed: %s" method (error.ToJsonString())

    /// Waits for an event of the given method and returns its parameters. A dialog blocks the page,
    /// so one (an injected alert) ends the wait at once.
    member this.WaitFor(method: string) : JsonNode =
        let deadline = DateTime.UtcNow + timeout

        let rec poll () =
            match
                this.Events
                |> List.tryFind (fun e ->
                    text e["method"] = method || text e["method"] = "Page.javascriptDialogOpening")
            with
            | Some e when text e["method"] <> method ->
                failtestf "a dialog opened, so injected script ran: %s" ((e["params"] |> nonNull).ToJsonString())
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

        sendText message

    member _.Close() =
        if socket.State = WebSocketState.Open then
            try
                socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None).Wait timeout
                |> ignore
            with :? AggregateException ->
                ()

        receiving.Wait timeout |> ignore

/// Starts Chromium and returns it with the browser's DevTools WebSocket address from its stderr.
let private launch (profile: string) =
    let info =
        ProcessStartInfo(chromium, RedirectStandardError = true, RedirectStandardOutput = true)
    // SwiftShader gives WebGL without a GPU: the parallel-coordinates chart needs it.
    [
        "--headless"
        "--no-sandbox"
        "--disable-gpu"
        "--use-angle=swiftshader"
        "--enable-unsafe-swiftshader"
        "--disable-quic"
        "--no-first-run"
        "--disable-background-networking"
        "--disable-component-update"
        "--disable-sync"
        "--disable-dev-shm-usage"
        "--hide-scrollbars"
        "--mute-audio"
        "--user-data-dir=" + profile
        "--remote-debugging-port=0"
        "about:blank"
    ]
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

            if m.Success then
                address.TrySetResult m.Groups[1].Value |> ignore)

    browser.OutputDataReceived.Add ignore
    browser.BeginErrorReadLine()
    browser.BeginOutputReadLine()

    if not (address.Task.Wait timeout) then
        browser.Kill true

        failtestf
            "%s printed no DevTools address within %O; its stderr:\n%s"
            chromium
            timeout
            (String.concat "\n" stderr)

    browser, address.Task.Result

let requireChromium () =
    if not (File.Exists chromium) then
        if Environment.GetEnvironmentVariable "CI" = "true" then
            failtestf
                "%s is missing: .ci/run must install Debian's chromium package (apt-get install -y chromium)"
                chromium
        else
            skiptest (sprintf "%s is not installed (apt-get install -y chromium); browser test skipped" chromium)

/// A page of a fresh browser: `Call` sends a DevTools command to it; `Tools` holds every event.
type Page = { Call: string -> obj -> JsonNode; Tools: DevTools }

/// Opens a blank 1200-pixel-wide page in a fresh headless Chromium with the Runtime, Log, Network and
/// Page domains on and every Content-Security-Policy violation made a console error, runs the body,
/// and closes the browser and deletes its profile whatever happens.
let withPage (body: Page -> 'a) : 'a =
    requireChromium ()

    let profile =
        Path.Combine(Path.GetTempPath(), "hybrid-chromium-" + Guid.NewGuid().ToString "N")

    let browser, address = launch profile
    use socket = new ClientWebSocket()

    try
        if not (socket.ConnectAsync(Uri address, CancellationToken.None).Wait timeout) then
            failtestf "could not connect to %s" address

        let devTools = DevTools socket

        try
            let target = devTools.Send("Target.createTarget", {| url = "about:blank" |})

            let attached =
                devTools.Send("Target.attachToTarget", {| targetId = text target["targetId"]; flatten = true |})

            let session = text attached["sessionId"]

            let page = {
                Call = (fun method parameters -> devTools.Send(method, parameters, session))
                Tools = devTools
            }

            for domain in [ "Runtime"; "Log"; "Network"; "Page" ] do
                page.Call (domain + ".enable") {| |} |> ignore
            // A Content-Security-Policy blocks quietly; make each violation a console error.
            page.Call "Page.addScriptToEvaluateOnNewDocument" {|
                source =
                    "document.addEventListener('securitypolicyviolation', e => console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI))"
            |}
            |> ignore

            page.Call "Emulation.setDeviceMetricsOverride" {|
                width = 1200
                height = 900
                deviceScaleFactor = 1
                mobile = false
            |}
            |> ignore

            body page
        finally
            devTools.Post "Browser.close"
            devTools.Close()
    finally
        if not (browser.WaitForExit 10000) then
            browser.Kill true

        browser.Dispose()

        try
            Directory.Delete(profile, true)
        with :? IOException ->
            ()

/// Navigates and waits for the load event.
let navigate (page: Page) (url: string) =
    page.Call "Page.navigate" {| url = url |} |> ignore
    page.Tools.WaitFor "Page.loadEventFired" |> ignore

/// The JSON an expression (a `JSON.stringify(...)`) evaluates to in the page.
let evaluate (page: Page) (expression: string) : JsonNode =
    let result =
        page.Call "Runtime.evaluate" {| expression = expression; returnByValue = true |}

    let value = (result["result"] |> nonNull)["value"]
    JsonNode.Parse(text value) |> nonNull

/// Evaluates the expression until `ready` accepts its value, and returns that value; fails after
/// the overall time limit with the last value seen.
let awaitPage (page: Page) (expression: string) (what: string) (ready: JsonNode -> bool) : JsonNode =
    let deadline = DateTime.UtcNow + timeout

    let rec poll () =
        let state = evaluate page expression

        if ready state then
            state
        elif DateTime.UtcNow > deadline then
            failtestf "the page did not show %s within %O; it shows %s" what timeout (state.ToJsonString())
        else
            Thread.Sleep 100
            poll ()

    poll ()

/// Saves the whole page (not only the window) as a PNG.
let screenshot (page: Page) (file: string) =
    let content = (page.Call "Page.getLayoutMetrics" {| |})["cssContentSize"] |> nonNull
    let height = (content["height"] |> nonNull).GetValue<float>()

    let shot =
        page.Call "Page.captureScreenshot" {|
            format = "png"
            captureBeyondViewport = true
            clip = {| x = 0; y = 0; width = 1200; height = height; scale = 1 |}
        |}

    Directory.CreateDirectory(nonNull (Path.GetDirectoryName file)) |> ignore
    File.WriteAllBytes(file, Convert.FromBase64String(text shot["data"]))

/// Console errors, exceptions, dialogs and requests to a URL that `allowed` refuses, among the events.
let problems (allowed: string -> bool) (events: JsonNode list) =
    events
    |> List.choose (fun e ->
        let at = field e["params"]

        match text e["method"] with
        | "Runtime.consoleAPICalled" when at [ "type" ] = "error" || at [ "type" ] = "assert" ->
            Some("console error: " + at [ "args" ])
        | "Runtime.exceptionThrown" ->
            Some(
                "exception: "
                + at [ "exceptionDetails"; "text" ]
                + " "
                + at [ "exceptionDetails"; "exception"; "description" ]
            )
        | "Log.entryAdded" when at [ "entry"; "level" ] = "error" ->
            Some("log error: " + at [ "entry"; "text" ] + " " + at [ "entry"; "url" ])
        | "Network.requestWillBeSent" when not (allowed (at [ "request"; "url" ])) ->
            Some("request leaving the page's origin: " + at [ "request"; "url" ])
        | "Page.javascriptDialogOpening" -> Some("a dialog opened (injected script ran): " + at [ "message" ])
        | _ -> None)

let expectNoProblems (allowed: string -> bool) (events: JsonNode list) =
    match problems allowed events with
    | [] -> ()
    | found ->
        failtestf "the page had console errors, exceptions, outside requests or dialogs:\n%s" (String.concat "\n" found)
