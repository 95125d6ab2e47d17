namespace Hybrid

open System
open System.IO
open System.Net
open System.Runtime.CompilerServices
open System.Runtime.InteropServices
open Microsoft.AspNetCore.Builder
open Microsoft.AspNetCore.Connections
open Microsoft.AspNetCore.Hosting
open Microsoft.AspNetCore.Hosting.Server
open Microsoft.AspNetCore.Hosting.Server.Features
open Microsoft.AspNetCore.Http
open Microsoft.Extensions.DependencyInjection

/// Raised when the dashboard cannot start: names the address and port and the problem.
type DashboardException(message: string) =
    inherit Exception(message)

/// A running dashboard; disposing it stops the server and closes the store.
[<Sealed>]
type Dashboard internal (url: string, waitForShutdown: unit -> unit, stop: unit -> unit) =
    /// Where the dashboard answers, e.g. `http://127.0.0.1:8050`.
    member _.Url = url

    /// Returns once the process is asked to stop (Ctrl+C, SIGTERM).
    member _.WaitForShutdown() = waitForShutdown ()

    interface IDisposable with
        member _.Dispose() = stop ()

/// The live dashboard over HTTP, on ASP.NET Core's Kestrel from the SDK's shared framework.
[<RequireQualifiedAccess>]
module DashboardServer =

    /// How long one request waits for a lost PostgreSQL server before the page says it is unreachable.
    let private patience = TimeSpan.FromSeconds 2.0

    /// `dotnet fsi` runs on the base framework alone and cannot find ASP.NET Core's assemblies by
    /// itself: they are taken from the shared framework of the same version beside it. A program
    /// built with this library finds them through its own runtime configuration and never asks.
    let private aspNetCore =
        lazy
            (let runtime = DirectoryInfo(RuntimeEnvironment.GetRuntimeDirectory())
             let frameworks = nonNull (nonNull runtime.Parent).Parent

             let shared =
                 Path.Combine(frameworks.FullName, "Microsoft.AspNetCore.App", runtime.Name)

             AppDomain.CurrentDomain.add_AssemblyResolve (fun _ args ->
                 let file =
                     Path.Combine(shared, string (Reflection.AssemblyName(args.Name).Name) + ".dll")

                 if File.Exists file then Reflection.Assembly.LoadFrom file else null))

    let private headers (response: HttpResponse) (answer: DashboardResponse) =
        // Scripts, styles and data only from the dashboard itself; plotly.js's parallel coordinates
        // generate code with `Function` ('unsafe-eval') and it injects its own style elements.
        response.Headers["Content-Security-Policy"] <-
            "default-src 'none'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

        response.Headers["X-Content-Type-Options"] <- "nosniff"
        response.Headers["Referrer-Policy"] <- "no-referrer"
        response.Headers["Cache-Control"] <- "no-store"
        response.StatusCode <- answer.Status
        response.ContentType <- answer.ContentType

    let private handle (dashboard: DashboardContext) (context: HttpContext) =
        let request = context.Request

        let answer =
            try
                DashboardRoutes.answer dashboard {
                    Method = request.Method
                    Host = request.Host.Host
                    Path = string request.Path
                    Query = string request.QueryString
                }
            with e -> {
                Status = 500
                ContentType = "text/html; charset=utf-8"
                Body = DashboardPages.problem "Dashboard error" e.Message
            }

        headers context.Response answer

        if request.Method = "HEAD" then
            Threading.Tasks.Task.CompletedTask
        else
            context.Response.WriteAsync answer.Body

    /// Starts Kestrel; kept apart from `start` so ASP.NET Core's types load only after `aspNetCore`.
    [<MethodImpl(MethodImplOptions.NoInlining)>]
    let private host
        (address: IPAddress)
        (port: int)
        (store: unit -> Store)
        : string * (unit -> unit) * (unit -> unit) =
        let builder = WebApplication.CreateEmptyBuilder(WebApplicationOptions())

        builder.WebHost.UseKestrelCore().ConfigureKestrel(fun options -> options.Listen(address, port))
        |> ignore

        let app = builder.Build()

        app.Run(
            RequestDelegate(
                handle {
                    Listening = string address
                    Store = store
                    Figures = DashboardFigures()
                    Latest = DashboardLatest()
                }
            )
        )

        try
            app.StartAsync().GetAwaiter().GetResult()
        with :? IOException as e ->
            let problem =
                match e.InnerException with
                | :? AddressInUseException ->
                    "the port is already in use (another dashboard or program listens there): choose another with --port"
                | _ -> e.Message

            raise (
                DashboardException(sprintf "cannot serve the dashboard on %s port %d: %s" (string address) port problem)
            )

        let addresses =
            app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()
            |> nonNull

        let url = addresses.Addresses |> Seq.head
        // The host's console lifetime takes Ctrl+C and SIGTERM and signals this token.
        let waitForShutdown () = app.Lifetime.ApplicationStopping.WaitHandle.WaitOne() |> ignore

        url, waitForShutdown, (fun () -> app.DisposeAsync().AsTask().GetAwaiter().GetResult())

    /// The store, opened read-only on first use and again after an attempt that failed.
    let private opener (location: string) =
        let gate = obj ()
        let mutable opened: Store option = None

        let get () =
            lock gate (fun () ->
                match opened with
                | Some store -> store
                | None ->
                    let store = Store.openReadOnly patience location
                    opened <- Some store
                    store)

        let close () =
            lock gate (fun () -> opened |> Option.iter (fun s -> (s :> IDisposable).Dispose()))

        get, close

    /// Serves the dashboard of every sweep in the store at `location` (a SQLite file, or a PostgreSQL
    /// connection string) on the address and port (0: any free port). The store is opened read-only
    /// on the first request, so a store that is down at the start is read once it is back.
    let start (location: string) (address: IPAddress) (port: int) : Dashboard =
        aspNetCore.Force()
        let store, close = opener location
        let url, waitForShutdown, stop = host address port store

        new Dashboard(
            url,
            waitForShutdown,
            (fun () ->
                stop ()
                close ())
        )

    /// Serves until Ctrl+C or SIGTERM.
    let run (location: string) (address: IPAddress) (port: int) =
        use dashboard = start location address port
        printfn "dashboard: %s/ (read-only; Ctrl+C stops it)" dashboard.Url
        dashboard.WaitForShutdown()
