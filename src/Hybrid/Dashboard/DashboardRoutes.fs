namespace Hybrid

open System
open System.Collections.Concurrent
open System.Data.Common
open System.IO
open System.Net.Sockets
open System.Text
open System.Text.Json
open System.Text.RegularExpressions
open System.Threading.Tasks

/// A request as the dashboard reads it.
type DashboardRequest = {
    Method: string
    /// The Host header's name, without the port.
    Host: string
    Path: string
    /// The raw query string, with its `?`, still percent-encoded.
    Query: string
}

/// What the dashboard answers: a status, a content type and a body.
type DashboardResponse = { Status: int; ContentType: string; Body: string }

/// The latest answer for each sweep's data, read again in the background: a poll returns at once
/// with the answer of the last finished read and starts the next read unless one is under way, so
/// a slow store or a busy machine delays the figures by one read, never the page.
[<Sealed>]
type DashboardLatest() =
    let latest = ConcurrentDictionary<string, DashboardResponse>()
    let reading = ConcurrentDictionary<string, bool>()

    /// The answer for a sweep: the last one `read` gave (reading again behind it), or a first read now.
    member _.Answer(sweep: string, read: unit -> DashboardResponse) : DashboardResponse =
        match latest.TryGetValue sweep with
        | true, answer ->
            if reading.TryAdd(sweep, true) then
                Task.Run(fun () ->
                    try
                        latest[sweep] <- read ()
                    finally
                        reading.TryRemove sweep |> ignore)
                |> ignore

            answer
        | false, _ ->
            let answer = read ()
            latest[sweep] <- answer
            answer

/// What every answer of one dashboard draws on.
type DashboardContext = {
    /// The address the dashboard listens on, as a Host header would name it.
    Listening: string
    /// The store, opened read-only on first use (and again after a failed attempt).
    Store: unit -> Store
    Figures: DashboardFigures
    Latest: DashboardLatest
}

/// The one query parameter the dashboard takes, `?name=<sweep>`, read strictly: a malformed query
/// string is refused with what is wrong, never guessed at.
[<RequireQualifiedAccess>]
module DashboardQuery =

    let private badEscape = Regex("%(?![0-9A-Fa-f]{2})")
    let private strictUtf8 = UTF8Encoding(false, true)

    /// A query component decoded: `+` is a space, `%XX` a byte; the bytes must be UTF-8.
    let private decode (text: string) : Result<string, string> =
        let bytes = ResizeArray<byte>()
        let mutable i = 0

        while i < text.Length do
            match text[i] with
            | '%' ->
                bytes.Add(Convert.ToByte(text.Substring(i + 1, 2), 16))
                i <- i + 3
            | '+' ->
                bytes.Add(byte ' ')
                i <- i + 1
            | _ ->
                let length = if Char.IsHighSurrogate text[i] && i + 1 < text.Length then 2 else 1

                bytes.AddRange(Encoding.UTF8.GetBytes(text.Substring(i, length)))
                i <- i + length

        try
            Ok(strictUtf8.GetString(bytes.ToArray()))
        with :? DecoderFallbackException ->
            Error(sprintf "malformed query string: the bytes of '%s' are not UTF-8 text" text)

    let private pair (part: string) =
        match part.IndexOf '=' with
        | -1 -> part, ""
        | i -> part.Substring(0, i), part.Substring(i + 1)

    /// The sweep's name from a query string such as `?name=digits`, or what is wrong with it.
    let sweepName (query: string) : Result<string, string> =
        let text = query.TrimStart '?'
        let bad = badEscape.Match text

        if bad.Success then
            Error(
                sprintf
                    "malformed query string: '%%' at character %d is not followed by two hexadecimal digits (expected %%XX)"
                    (bad.Index + 1)
            )
        else
            let pairs =
                text.Split('&', StringSplitOptions.RemoveEmptyEntries)
                |> List.ofArray
                |> List.map pair

            match pairs |> List.filter (fun (key, _) -> key <> "name") with
            | (key, _) :: _ -> Error(sprintf "unknown query parameter '%s': this page takes only ?name=<sweep>" key)
            | [] ->
                match pairs with
                | [ _, value ] ->
                    match decode value with
                    | Ok "" -> Error "the query parameter 'name' is empty: expected ?name=<sweep>"
                    | decoded -> decoded
                | [] -> Error "the query string names no sweep: expected ?name=<sweep>"
                | many -> Error(sprintf "the query string names %d sweeps: expected one ?name=<sweep>" many.Length)

/// Every answer of the dashboard, computed from a request and the store: pages, the sweep's JSON
/// and the assets. Reads the store and nothing else; a store that cannot be read is a 503 naming it.
[<RequireQualifiedAccess>]
module DashboardRoutes =

    let private html status body = { Status = status; ContentType = "text/html; charset=utf-8"; Body = body }

    let private json status body = {
        Status = status
        ContentType = "application/json; charset=utf-8"
        Body = body
    }

    let private problem status title message = html status (DashboardPages.problem title message)

    let private error status (message: string) = json status (JsonSerializer.Serialize {| error = message |})

    let private resource (name: string) =
        match typeof<DashboardResponse>.Assembly.GetManifestResourceStream name with
        | null -> failwithf "the library was built without its resource '%s'" name
        | stream ->
            use reader = new StreamReader(stream)
            reader.ReadToEnd()

    let private script = lazy (resource "Hybrid.Dashboard.dashboard.js")

    /// Failures of reading the store (unreachable, refused, damaged), as opposed to bugs.
    let private unreadable (e: exn) =
        match e with
        | :? StoreException
        | :? InvalidFileException
        | :? DbException
        | :? IOException
        | :? SocketException
        | :? TimeoutException -> true
        | _ -> false

    /// The sweep's live data, or 404 naming the sweeps the store does hold.
    let private snapshot (context: DashboardContext) (name: string) =
        try
            let store = context.Store()

            match Store.sweep store name with
            | Some sweep -> json 200 (DashboardData.snapshot context.Figures sweep (Store.results store name))
            | None ->
                let held =
                    match Store.sweepNames store with
                    | [] -> "none"
                    | names -> String.concat ", " names

                error 404 (sprintf "run store %s holds no sweep named '%s' (sweeps there: %s)" store.Location name held)
        with
        | e when unreadable e -> error 503 e.Message
        // Read in the background too, where nothing else would report it.
        | e -> error 500 (sprintf "the dashboard failed to read the sweep: %s" e.Message)

    let private sweepPage (store: unit -> Store) (name: string) =
        let exists =
            try
                (Store.sweep (store ()) name).IsSome
            // The page itself says the store is unreachable, and shows the sweep once it is back.
            with e when unreadable e ->
                true

        if exists then
            html 200 (DashboardPages.sweep name)
        else
            problem 404 "No such sweep" (sprintf "The run store holds no sweep named '%s'." name)

    let private index (store: unit -> Store) =
        let s = store ()

        html
            200
            (DashboardPages.index s.Location (Store.sweepNames s |> List.map (fun name -> name, Store.counts s name)))

    /// Loopback names, and the address the dashboard listens on: any other Host header is a page
    /// reached through someone else's DNS name (DNS rebinding), which must not read the store.
    let private hostAllowed (listening: string) (host: string) =
        [ "localhost"; "127.0.0.1"; "[::1]"; listening ]
        |> List.exists (fun h -> String.Equals(h, host, StringComparison.OrdinalIgnoreCase))

    let private route (context: DashboardContext) (request: DashboardRequest) =
        match request.Path with
        | "/" -> index context.Store
        | "/sweep" ->
            match DashboardQuery.sweepName request.Query with
            | Ok name -> sweepPage context.Store name
            | Error message -> problem 400 "Malformed request" message
        | "/api/sweep" ->
            match DashboardQuery.sweepName request.Query with
            | Ok name -> context.Latest.Answer(name, fun () -> snapshot context name)
            | Error message -> error 400 message
        | "/assets/plotly.js" -> {
            Status = 200
            ContentType = "text/javascript; charset=utf-8"
            Body = ReportHtml.plotlyJs.Value
          }
        | "/assets/dashboard.js" -> {
            Status = 200
            ContentType = "text/javascript; charset=utf-8"
            Body = script.Value
          }
        | "/assets/dashboard.css" -> {
            Status = 200
            ContentType = "text/css; charset=utf-8"
            Body = DashboardPages.css
          }
        | path -> problem 404 "Not found" (sprintf "There is no page %s here." path)

    /// The answer to one request.
    let answer (context: DashboardContext) (request: DashboardRequest) : DashboardResponse =
        if request.Method <> "GET" && request.Method <> "HEAD" then
            problem 405 "Method not allowed" (sprintf "The dashboard only reads: %s is not allowed." request.Method)
        elif not (hostAllowed context.Listening request.Host) then
            problem
                421
                "Misdirected request"
                (sprintf "The dashboard answers only to this machine's own names, not to '%s'." request.Host)
        else
            try
                route context request
            with e when unreadable e ->
                problem 503 "Run store unavailable" e.Message
