namespace Hybrid

open System.Collections.Concurrent
open System.Text.Json
open Plotly.NET

// What the live dashboard shows of a sweep, as JSON: the same tables and charts as the report,
// computed from the store's records at the moment of the request.

/// The figures a dashboard last drew, each with the data it was drawn from. Plotly.NET takes a
/// noticeable time to write a figure's JSON and the page asks every two seconds, so a figure is
/// drawn again only when its data changed (compared by value; NaN equals NaN there).
[<Sealed>]
type DashboardFigures() =
    let drawn = ConcurrentDictionary<string * string, obj * JsonElement>()

    /// The figure of chart `id` of a sweep, drawn from `data` unless it was drawn from equal data before.
    member _.Figure(sweep: string, id: string, data: obj, draw: unit -> GenericChart) : JsonElement =
        match drawn.TryGetValue((sweep, id)) with
        | true, (previous, figure) when previous.Equals data -> figure
        | _ ->
            use document = JsonDocument.Parse(GenericChart.toFigureJson (draw ()))
            let figure = document.RootElement.Clone()
            drawn[(sweep, id)] <- (data, figure)
            figure

[<RequireQualifiedAccess>]
module DashboardData =

    /// The states the page counts, in the order it shows them: what moves first.
    let private states = [
        TrialState.Running
        TrialState.Paused
        TrialState.Pending
        TrialState.Finished Completed
        TrialState.Finished Pruned
        TrialState.Finished Diverged
        TrialState.Finished Failed
    ]

    let private table (header: string list, rows: string list list) = {| header = header; rows = rows |}

    let private charts
        (figures: DashboardFigures)
        (sweep: string)
        (trials: StoredTrial list)
        (standings: Standing list)
        =
        // A chart as Plotly's figure JSON, and the section of the page it belongs in.
        let chart section id (data: obj) draw = {|
            section = section
            id = id
            figure = figures.Figure(sweep, id, data, draw)
        |}

        let running =
            trials
            |> List.filter (fun t -> t.State = TrialState.Running && not t.History.IsEmpty)

        let settings = Leaderboard.settings trials

        [
            if not running.IsEmpty then
                chart "running" "chart-running" running (fun () -> ReportCharts.runningCurves running)
            if not standings.IsEmpty then
                chart "learning" "chart-learning" standings (fun () -> ReportCharts.learningCurves standings)

                if not settings.IsEmpty then
                    chart "settings" "chart-parallel" (settings, standings) (fun () ->
                        ReportCharts.parallelCoordinates settings standings)

                    yield!
                        settings
                        |> List.mapi (fun i setting ->
                            chart "settings" (sprintf "chart-setting-%d" i) (setting, standings) (fun () ->
                                ReportCharts.setting setting standings))
        ]

    /// The sweep as the page shows it: counts by state, the leaderboard with its intervals, the
    /// learning curves of running trials and of the best configurations, and failures with reasons.
    let snapshot (figures: DashboardFigures) (sweep: StoredSweep) (trials: StoredTrial list) : string =
        let standings = Leaderboard.rank trials

        let count state = trials |> List.filter (fun t -> t.State = state) |> List.length

        JsonSerializer.Serialize {|
            sweep = sweep.Name
            notes = sweep.Notes.Trim()
            summary = ReportFormat.counts trials
            counts =
                states
                |> List.map (fun state -> {| status = TrialState.name state; count = count state |})
            leaderboard = table (ReportTables.leaderboard (Leaderboard.settings trials) standings)
            failures = table (ReportTables.failures (Leaderboard.failures trials))
            charts = charts figures sweep.Name trials standings
        |}
