namespace Hybrid

open System.Text.Json
open System.Text.Json.Nodes
open Plotly.NET

// What the live dashboard shows of a sweep, as JSON: the same tables and charts as the report,
// computed from the store's records at the moment of the request.

[<RequireQualifiedAccess>]
module DashboardData =

    /// The statuses the page counts, in the order it shows them.
    let private statuses = [ "running"; "pending"; "completed"; "diverged"; "failed" ]

    let private table (header: string list, rows: string list list) = {| header = header; rows = rows |}

    /// A chart as Plotly's figure JSON, and the section of the page it belongs in.
    let private chart (section: string) (id: string) (figure: GenericChart) =
        {| section = section; id = id; figure = JsonNode.Parse(GenericChart.toFigureJson figure) |}

    let private charts (trials: ReportTrial list) (standings: Standing list) =
        let running = trials |> List.filter (fun t -> t.Status = "running" && not t.History.IsEmpty)
        let names = Leaderboard.settingNames trials
        [ if not running.IsEmpty then
              chart "running" "chart-running" (ReportCharts.runningCurves running)
          if not standings.IsEmpty then
              chart "learning" "chart-learning" (ReportCharts.learningCurves standings)
              if not names.IsEmpty then
                  chart "settings" "chart-parallel" (ReportCharts.parallelCoordinates names standings)
                  yield! names |> List.mapi (fun i name -> chart "settings" (sprintf "chart-setting-%d" i) (ReportCharts.setting name standings)) ]

    /// The sweep as the page shows it: counts by status, the leaderboard with its intervals, the
    /// learning curves of running trials and of the best configurations, and failures with reasons.
    let snapshot (sweep: StoredSweep) (trials: ReportTrial list) : string =
        let standings = Leaderboard.rank trials
        let names = Leaderboard.settingNames trials
        JsonSerializer.Serialize
            {| sweep = sweep.Name
               notes = sweep.Notes.Trim()
               summary = ReportFormat.counts trials
               counts = statuses |> List.map (fun s -> {| status = s; count = trials |> List.filter (fun t -> t.Status = s) |> List.length |})
               leaderboard = table (ReportTables.leaderboard names standings)
               failures = table (ReportTables.failures (Leaderboard.failures trials))
               charts = charts trials standings |}
