namespace Hybrid

open System
open System.Globalization
open System.IO
open System.Net
open System.Text
open System.Text.RegularExpressions
open Hybrid.Engine.Training
open Plotly.NET
open Plotly.NET.TraceObjects

/// One trial as a report shows it: plain strings and numbers, filled from the store.
type ReportTrial =
    { Key: string
      Configuration: int
      Seed: uint64
      /// Setting name and formatted value, in the space's order.
      Values: (string * string) list
      /// completed, diverged, failed, pending or running.
      Status: string
      Reason: string
      KeptEpoch: int
      ValidationAccuracy: float option
      ValidationLoss: float option
      TestAccuracy: float option
      TestLoss: float option
      Seconds: float option
      History: EpochMetrics list }

/// Everything a report shows; every string in it may come from a user and is escaped on output.
type ReportInput =
    { SweepName: string
      Notes: string
      DataName: string
      ClassNames: string[]
      Trials: ReportTrial list
      Manifest: (string * string) list
      /// The best model on the test split: rows are true classes, columns predicted ones.
      Confusion: int[,] option
      /// Re-runs of finished trials from their stored records (see `Sweep.verify`).
      Verifications: Verification list
      GeneratedUtc: DateTime }

type ReportPaths = { Html: string; Markdown: string; Csv: string }

[<RequireQualifiedAccess>]
module ReportInput =

    let ofTrial (t: StoredTrial) : ReportTrial =
        { Key = t.Key
          Configuration = t.Configuration
          Seed = t.Seed
          Values = t.Values
          Status = Store.stateName t.State
          Reason = t.Reason
          KeptEpoch = Option.defaultValue 0 t.KeptEpoch
          ValidationAccuracy = t.ValidationAccuracy
          ValidationLoss = t.ValidationLoss
          TestAccuracy = t.TestAccuracy
          TestLoss = t.TestLoss
          Seconds = t.Seconds
          History = t.History }

    /// What the store holds about a sweep, as a report shows it; generated now.
    let ofStore (sweep: Sweep) (manifest: (string * string) list) (trials: StoredTrial list) (verifications: Verification list) (confusion: int[,] option) =
        { SweepName = sweep.Name
          Notes = sweep.Notes
          DataName = sweep.Data.Name
          ClassNames = sweep.Data.Split.Train.ClassNames
          Trials = List.map ofTrial trials
          Manifest = manifest
          Confusion = confusion
          Verifications = verifications
          GeneratedUtc = DateTime.UtcNow }

/// One configuration's results over its completed seeds.
type Standing =
    { Configuration: int
      Values: (string * string) list
      /// The completed trials the figures summarize.
      Trials: ReportTrial list
      /// How many trials the configuration has in any state.
      Runs: int
      ValidationAccuracy: Summary
      ValidationLoss: Summary option
      TestAccuracy: Summary option
      TestLoss: Summary option
      /// Welch's p-value for "same mean validation accuracy as the leader"; None for the leader
      /// itself and where either side has fewer than two seeds.
      VersusLeader: float option }

[<RequireQualifiedAccess>]
module Leaderboard =

    let private summarize (pick: ReportTrial -> float option) (trials: ReportTrial list) =
        match List.choose pick trials with
        | [] -> None
        | values -> Some(Statistics.summarize values)

    /// Configurations with at least one completed trial, best mean validation accuracy first.
    let rank (trials: ReportTrial list) : Standing list =
        let runs = trials |> List.countBy _.Configuration |> Map.ofList
        let ranked =
            trials
            |> List.filter (fun t -> t.Status = "completed" && t.ValidationAccuracy.IsSome)
            |> List.groupBy _.Configuration
            |> List.map (fun (configuration, completed) ->
                { Configuration = configuration
                  Values = completed.Head.Values
                  Trials = completed |> List.sortBy _.Seed
                  Runs = runs[configuration]
                  ValidationAccuracy = (summarize _.ValidationAccuracy completed).Value
                  ValidationLoss = summarize _.ValidationLoss completed
                  TestAccuracy = summarize _.TestAccuracy completed
                  TestLoss = summarize _.TestLoss completed
                  VersusLeader = None })
            |> List.sortBy (fun s -> -s.ValidationAccuracy.Mean, s.Configuration)
        let accuracies (s: Standing) = s.Trials |> List.choose _.ValidationAccuracy
        match ranked with
        | [] -> []
        | leader :: rest ->
            let versus (s: Standing) =
                if leader.ValidationAccuracy.N < 2 || s.ValidationAccuracy.N < 2 then None
                else Some(Statistics.welch (accuracies leader) (accuracies s))
            leader :: (rest |> List.map (fun s -> { s with VersusLeader = versus s }))

    /// The trials that failed or diverged, in configuration and seed order.
    let failures (trials: ReportTrial list) =
        trials |> List.filter (fun t -> t.Status = "failed" || t.Status = "diverged") |> List.sortBy (fun t -> t.Configuration, t.Seed)

    /// Every setting name the trials carry, in order of first appearance.
    let settingNames (trials: ReportTrial list) = trials |> List.collect (fun t -> List.map fst t.Values) |> List.distinct

    /// A setting's formatted value; empty when the trial does not have the setting.
    let valueOf (name: string) (values: (string * string) list) =
        values |> List.tryFind (fst >> (=) name) |> Option.map snd |> Option.defaultValue ""

/// Numbers as the report prints them, the same on every machine.
[<RequireQualifiedAccess>]
module ReportFormat =

    let private invariant (format: string) (x: float) = x.ToString(format, CultureInfo.InvariantCulture)

    /// "95.33 ± 1.20 % (n=3)", or "95.33 % (n=1)" where there is no interval.
    let percent (s: Summary) =
        match s.HalfWidth with
        | Some h -> sprintf "%s ± %s %% (n=%d)" (invariant "F2" (100.0 * s.Mean)) (invariant "F2" (100.0 * h)) s.N
        | None -> sprintf "%s %% (n=%d)" (invariant "F2" (100.0 * s.Mean)) s.N

    /// "0.1234 ± 0.0101 (n=3)", or "0.1234 (n=1)".
    let loss (s: Summary) =
        match s.HalfWidth with
        | Some h -> sprintf "%s ± %s (n=%d)" (invariant "F4" s.Mean) (invariant "F4" h) s.N
        | None -> sprintf "%s (n=%d)" (invariant "F4" s.Mean) s.N

    let optional (format: Summary -> string) (s: Summary option) = s |> Option.map format |> Option.defaultValue "—"

    let pValue (p: float option) =
        match p with
        | None -> "—"
        | Some p when p < 0.001 -> "< 0.001"
        | Some p -> invariant "F3" p

    /// A full-precision number for files read by programs; empty when absent.
    let exact (x: float option) = x |> Option.map (invariant "R") |> Option.defaultValue ""

    let configuration (c: int) = sprintf "#%d" c
    let shortKey (key: string) = if key.Length > 12 then key.Substring(0, 12) else key
    let settings (values: (string * string) list) = values |> List.map (fun (n, v) -> sprintf "%s = %s" n v) |> String.concat ", "
    let seeds (s: Standing) = sprintf "%d of %d" s.Trials.Length s.Runs
    let timestamp (utc: DateTime) = utc.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + " UTC"

    /// "12 trials: 10 completed, 1 diverged, 1 failed".
    let counts (trials: ReportTrial list) =
        let parts =
            [ "completed"; "diverged"; "failed"; "running"; "pending" ]
            |> List.choose (fun status ->
                match trials |> List.filter (fun t -> t.Status = status) |> List.length with
                | 0 -> None
                | n -> Some(sprintf "%d %s" n status))
        sprintf "%d trials: %s" trials.Length (if parts.IsEmpty then "none run" else String.concat ", " parts)

    /// "2 of 3": how many re-run trials came out bit-identical.
    let verified (verifications: Verification list) =
        sprintf "%d of %d" (verifications |> List.filter _.Identical |> List.length) verifications.Length

/// The report's tables as plain text, a header and rows, rendered by Markdown and HTML alike.
[<RequireQualifiedAccess>]
module ReportTables =

    let leaderboardNote =
        "Configurations ranked by mean validation accuracy over their completed seeds. Each figure is the mean ± the half-width "
        + "of its 95% confidence interval (Student t) with the number of seeds; \"p vs #1\" is Welch's t-test of validation "
        + "accuracy against the first configuration (below 0.05: the difference is significant)."

    let leaderboard (names: string list) (standings: Standing list) =
        [ "rank"; "configuration" ] @ names @ [ "validation accuracy"; "test accuracy"; "validation loss"; "test loss"; "seeds"; "p vs #1" ],
        standings
        |> List.mapi (fun i s ->
            [ string (i + 1); ReportFormat.configuration s.Configuration ]
            @ (names |> List.map (fun n -> Leaderboard.valueOf n s.Values))
            @ [ ReportFormat.percent s.ValidationAccuracy
                ReportFormat.optional ReportFormat.percent s.TestAccuracy
                ReportFormat.optional ReportFormat.loss s.ValidationLoss
                ReportFormat.optional ReportFormat.loss s.TestLoss
                ReportFormat.seeds s
                ReportFormat.pValue s.VersusLeader ])

    let failures (failures: ReportTrial list) =
        [ "trial"; "configuration"; "seed"; "status"; "reason" ],
        failures |> List.map (fun t -> [ ReportFormat.shortKey t.Key; ReportFormat.configuration t.Configuration; string t.Seed; t.Status; t.Reason ])

    let verifications (verifications: Verification list) =
        [ "trial"; "verified"; "bit-identical"; "detail" ],
        verifications
        |> List.map (fun v -> [ ReportFormat.shortKey v.Key; ReportFormat.timestamp v.VerifiedUtc; (if v.Identical then "yes" else "no"); v.Detail ])

    let manifest (items: (string * string) list) = [ "item"; "value" ], items |> List.map (fun (k, v) -> [ k; v ])

[<RequireQualifiedAccess>]
module Markdown =

    let private lineBreaks = Regex(@"\r\n|\r|\n")

    /// Inline text, safe in a paragraph or a table cell: characters that Markdown or HTML would
    /// read as syntax are escaped, `<` `>` `&` become entities, and line breaks become spaces.
    let escape (text: string) =
        let out = StringBuilder(text.Length)
        for c in lineBreaks.Replace(text, " ") do
            match c with
            | '\\' | '|' | '*' | '_' | '`' | '[' | ']' | '~' -> out.Append('\\').Append(c) |> ignore
            | '<' -> out.Append "&lt;" |> ignore
            | '>' -> out.Append "&gt;" |> ignore
            | '&' -> out.Append "&amp;" |> ignore
            | c -> out.Append c |> ignore
        out.ToString()

    /// Free text over several lines, each escaped; a leading `#` `-` `+` `=` cannot start a
    /// heading, a list or a rule, and blank lines keep separating paragraphs.
    let paragraphs (text: string) =
        lineBreaks.Split(text.Trim())
        |> Array.map (fun line ->
            let line = escape (line.Trim())
            if line.Length > 0 && "#-+=".Contains line[0] then "\\" + line else line)
        |> String.concat "\n"

    let private row (cells: string list) = "| " + String.concat " | " cells + " |"

    /// A table whose every cell is escaped.
    let table (header: string list, rows: string list list) =
        [ yield row (List.map escape header)
          yield row (header |> List.map (fun _ -> "---"))
          for r in rows -> row (List.map escape r) ]
        |> String.concat "\n"

    /// The report's summary in Markdown.
    let render (input: ReportInput) : string =
        let standings = Leaderboard.rank input.Trials
        let failures = Leaderboard.failures input.Trials
        let text = StringBuilder()
        let line (s: string) = text.Append(s).Append('\n') |> ignore
        line (sprintf "# Sweep report: %s" (escape input.SweepName))
        line ""
        line (sprintf "Data: %s · %s · generated %s" (escape input.DataName) (ReportFormat.counts input.Trials) (ReportFormat.timestamp input.GeneratedUtc))
        line ""
        if not (String.IsNullOrWhiteSpace input.Notes) then
            line "## Notes"
            line ""
            line (paragraphs input.Notes)
            line ""
        line "## Leaderboard"
        line ""
        line (escape ReportTables.leaderboardNote)
        line ""
        if standings.IsEmpty then line "No trial has completed." else line (table (ReportTables.leaderboard (Leaderboard.settingNames input.Trials) standings))
        line ""
        match standings with
        | best :: _ ->
            line "## Best configuration"
            line ""
            line (sprintf "Configuration %s: %s." (ReportFormat.configuration best.Configuration) (escape (ReportFormat.settings best.Values)))
            line ""
            line (sprintf "Validation accuracy %s; test accuracy %s." (ReportFormat.percent best.ValidationAccuracy) (ReportFormat.optional ReportFormat.percent best.TestAccuracy))
            line ""
        | [] -> ()
        line "## Failed and diverged trials"
        line ""
        if failures.IsEmpty then
            line "None."
        else
            line (table (ReportTables.failures failures))
        line ""
        line "## Verification"
        line ""
        if input.Verifications.IsEmpty then
            line "No trial was re-run for verification."
        else
            line (sprintf "Verified bit-identical: %s." (ReportFormat.verified input.Verifications))
            line ""
            line (table (ReportTables.verifications input.Verifications))
        line ""
        line "## Manifest"
        line ""
        line (table (ReportTables.manifest input.Manifest))
        text.ToString()

/// trials.csv: one row per trial, RFC 4180 (comma-separated, CRLF line ends, quotes doubled).
[<RequireQualifiedAccess>]
module TrialsCsv =

    let field (text: string) =
        if text.IndexOfAny [| ','; '"'; '\r'; '\n' |] >= 0 then "\"" + text.Replace("\"", "\"\"") + "\"" else text

    let private row (fields: string list) = fields |> List.map field |> String.concat ","

    let render (trials: ReportTrial list) : string =
        let names = Leaderboard.settingNames trials
        let header =
            [ "key"; "configuration"; "seed" ] @ names
            @ [ "status"; "reason"; "kept_epoch"; "validation_accuracy"; "validation_loss"; "test_accuracy"; "test_loss"; "seconds" ]
        let line (t: ReportTrial) =
            [ t.Key; string t.Configuration; string t.Seed ]
            @ (names |> List.map (fun n -> Leaderboard.valueOf n t.Values))
            @ [ t.Status
                t.Reason
                string t.KeptEpoch
                ReportFormat.exact t.ValidationAccuracy
                ReportFormat.exact t.ValidationLoss
                ReportFormat.exact t.TestAccuracy
                ReportFormat.exact t.TestLoss
                ReportFormat.exact t.Seconds ]
        (row header :: (trials |> List.sortBy (fun t -> t.Configuration, t.Seed) |> List.map (line >> row)))
        |> List.map (fun r -> r + "\r\n")
        |> String.concat ""

/// The report's charts as Plotly.NET values.
[<RequireQualifiedAccess>]
module ReportCharts =

    /// Long labels are cut so they leave room for the plot.
    let private shorten (text: string) = if text.Length > 28 then text.Substring(0, 27) + "…" else text

    /// A user string as a chart label. plotly.js reads labels as a small subset of HTML (<b>, <a href>,
    /// <br>...) and decodes &lt; &gt; &amp; for display, so these three are encoded and the text
    /// shows as written.
    let label (text: string) =
        (shorten text).Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;")

    let private palette = [| "#1f77b4"; "#d62728"; "#2ca02c" |]

    let private tryParse (text: string) =
        match Double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture) with
        | true, x when Double.IsFinite x -> Some x
        | _ -> None

    /// The values as numbers when every one is a finite number.
    let private numbers (values: string list) =
        let parsed = values |> List.choose tryParse
        if parsed.Length = values.Length && not parsed.IsEmpty then Some parsed else None

    /// Positive values over a decade or more read better on a log scale (learning rates).
    let private wide (xs: float list) = List.min xs > 0.0 && List.max xs / List.min xs >= 10.0

    /// 1, 2 and 5 times the powers of ten from `low` to `high`: log-axis ticks that read easily.
    let private logTicks (low: float) (high: float) =
        [ for decade in floor (log10 low) .. ceil (log10 high) do
              for m in [ 1.0; 2.0; 5.0 ] do
                  let x = m * 10.0 ** decade
                  if x >= low * (1.0 - 1e-9) && x <= high * (1.0 + 1e-9) then x ]

    /// Train (solid) and validation (dashed) loss per epoch of each trial of the best three configurations.
    let learningCurves (standings: Standing list) : GenericChart =
        standings
        |> List.truncate palette.Length
        |> List.mapi (fun rank s ->
            let color = Color.fromHex palette[rank]
            let group = ReportFormat.configuration s.Configuration
            // One legend entry per configuration and curve; hovering a line tells its seed.
            s.Trials
            |> List.mapi (fun i t ->
                let validation = t.History |> List.choose (fun m -> m.ValidationLoss |> Option.ofNullable |> Option.map (fun v -> m.Epoch, v))
                let seed = sprintf "seed %d" t.Seed
                [ Chart.Line(t.History |> List.map _.Epoch, t.History |> List.map _.TrainLoss, Name = group + " train", Text = seed, LineColor = color)
                  Chart.Line(
                      List.map fst validation,
                      List.map snd validation,
                      Name = group + " validation",
                      Text = seed,
                      LineColor = color,
                      LineDash = StyleParam.DrawingStyle.Dash
                  ) ]
                |> List.map (Chart.withTraceInfo (LegendGroup = group, ShowLegend = (i = 0))))
            |> List.concat)
        |> List.concat
        |> Chart.combine
        |> Chart.withXAxisStyle (TitleText = "epoch")
        |> Chart.withYAxisStyle (TitleText = "loss (log scale)", AxisType = StyleParam.AxisType.Log)
        |> Chart.withTitle "Learning curves of the best configurations (solid: train, dashed: validation)"
        |> Chart.withSize (1000, 480)

    /// One axis per setting and one for validation accuracy, one line per configuration (its mean).
    /// Categorical settings become indices labelled with their values; wide numeric ones, log10.
    let parallelCoordinates (names: string list) (standings: Standing list) : GenericChart =
        let dimension (name: string) =
            let values = standings |> List.map (fun s -> Leaderboard.valueOf name s.Values)
            match numbers values with
            | Some xs when wide xs ->
                let ticks = logTicks (List.min xs) (List.max xs)
                Dimension.initParallel (
                    Label = label name + " (log)",
                    Values = List.map log10 xs,
                    Tickvals = List.map log10 ticks,
                    TickText = (ticks |> List.map (fun x -> x.ToString("G4", CultureInfo.InvariantCulture)))
                )
            | Some xs -> Dimension.initParallel (Label = label name, Values = xs)
            | None ->
                let categories = List.distinct values
                Dimension.initParallel (
                    Label = label name,
                    Values = (values |> List.map (fun v -> List.findIndex ((=) v) categories)),
                    Tickvals = [ 0 .. categories.Length - 1 ],
                    // Parallel-coordinates ticks are set as plain text, never read as HTML.
                    TickText = List.map shorten categories
                )
        let accuracy = standings |> List.map (fun s -> 100.0 * s.ValidationAccuracy.Mean)
        Chart.ParallelCoord(
            [ yield! List.map dimension names; yield Dimension.initParallel (Label = "validation accuracy (%)", Values = accuracy) ],
            LineColor = Color.fromColorScaleValues accuracy,
            LineColorScale = StyleParam.Colorscale.Viridis,
            ShowLineColorScale = true
        )
        |> Chart.withTitle "Settings vs mean validation accuracy, one line per configuration"
        |> Chart.withSize (1000, 460)

    /// Validation accuracy of every completed trial against one setting's value.
    let setting (name: string) (standings: Standing list) : GenericChart =
        let trials = standings |> List.collect _.Trials
        let accuracy = trials |> List.map (fun t -> 100.0 * Option.defaultValue nan t.ValidationAccuracy)
        let labels = trials |> List.map (fun t -> sprintf "%s seed %d" (ReportFormat.configuration t.Configuration) t.Seed)
        let values = trials |> List.map (fun t -> Leaderboard.valueOf name t.Values)
        let chart, axisType =
            match numbers values with
            | Some xs -> Chart.Point(xs, accuracy, MultiText = labels), (if wide xs then StyleParam.AxisType.Log else StyleParam.AxisType.Linear)
            | None -> Chart.Point(List.map label values, accuracy, MultiText = labels), StyleParam.AxisType.Category
        chart
        |> Chart.withXAxisStyle (TitleText = label name, AxisType = axisType)
        |> Chart.withYAxisStyle (TitleText = "validation accuracy (%)")
        |> Chart.withTitle (label name)
        |> Chart.withSize (480, 360)

    /// Counts of true (rows) against predicted (columns) classes, the first class on top.
    let confusion (classNames: string[]) (matrix: int[,]) : GenericChart =
        let rows, columns = Array2D.length1 matrix, Array2D.length2 matrix
        let name i = if i < classNames.Length then label classNames[i] else string i
        let z = [ for i in 0 .. rows - 1 -> [ for j in 0 .. columns - 1 -> matrix[i, j] ] ]
        Chart.AnnotatedHeatmap(
            z,
            z |> List.map (List.map string),
            X = List.init columns name,
            Y = List.init rows name,
            // Light enough at the top that the counts stay readable in black.
            ColorScale = StyleParam.Colorscale.Custom [ 0.0, Color.fromHex "#f7fbff"; 1.0, Color.fromHex "#5b9bd5" ],
            ReverseYAxis = true
        )
        |> Chart.withXAxisStyle (TitleText = "predicted class", AxisType = StyleParam.AxisType.Category)
        |> Chart.withYAxisStyle (TitleText = "true class", AxisType = StyleParam.AxisType.Category)
        |> Chart.withTitle "Confusion matrix of the best model on the test split"
        |> Chart.withSize (max 560 (320 + 56 * columns), max 480 (260 + 56 * rows))

/// report.html: one self-contained file that makes no network request.
[<RequireQualifiedAccess>]
module ReportHtml =

    let encode (text: string) =
        match WebUtility.HtmlEncode text with
        | null -> ""
        | encoded -> encoded

    /// plotly.js as Plotly.NET ships it inside its own assembly, so the report needs no network.
    let plotlyJs =
        lazy
            (let name = sprintf "Plotly.NET.plotly-%s.min.js" Globals.PLOTLYJS_VERSION
             match typeof<GenericChart>.Assembly.GetManifestResourceStream name with
             | null -> failwithf "Plotly.NET no longer ships plotly.js as the resource '%s'; the report cannot embed it" name
             | stream ->
                 use reader = new StreamReader(stream)
                 let source = reader.ReadToEnd()
                 if source.Contains("</script", StringComparison.OrdinalIgnoreCase) then
                     failwith "plotly.js contains '</script' and cannot be inlined"
                 source)

    /// JSON that stays data inside a <script> element: no `</script>` or `<!--` can end or change it.
    let scriptJson (json: string) =
        json.Replace("<", "\\u003c").Replace(">", "\\u003e").Replace("&", "\\u0026").Replace("\u2028", "\\u2028").Replace("\u2029", "\\u2029")

    let private chart (id: string) (figure: GenericChart) =
        sprintf
            "<div class=\"chart\" id=\"%s\"></div>\n<script>(function () { var f = %s; Plotly.newPlot(\"%s\", f.data, f.layout, { responsive: true, displaylogo: false }); })();</script>\n"
            id
            (scriptJson (GenericChart.toFigureJson figure))
            id

    let private table (kind: string) (header: string list, rows: string list list) =
        let cells tag (values: string list) = values |> List.map (fun v -> sprintf "<%s>%s</%s>" tag (encode v) tag) |> String.concat ""
        let body = rows |> List.map (fun r -> "<tr>" + cells "td" r + "</tr>") |> String.concat "\n"
        sprintf "<table class=\"%s\">\n<thead><tr>%s</tr></thead>\n<tbody>\n%s\n</tbody>\n</table>\n" kind (cells "th" header) body


    let private style =
        """body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1d2430; background: #fafbfc; }
main { max-width: 1200px; margin: 0 auto; padding: 24px; }
h1 { font-size: 1.7em; margin-bottom: 4px; } h2 { margin-top: 36px; border-bottom: 1px solid #d8dee4; padding-bottom: 4px; }
.meta { color: #57606a; } .notes { white-space: pre-wrap; background: #fff; border-left: 4px solid #d8dee4; padding: 8px 12px; }
table { border-collapse: collapse; margin: 12px 0; background: #fff; font-size: 0.92em; }
th, td { border: 1px solid #d8dee4; padding: 4px 8px; text-align: left; vertical-align: top; } th { background: #f0f3f6; }
td { font-variant-numeric: tabular-nums; } .leaderboard td:nth-last-child(-n+6) { white-space: nowrap; }
table.leaderboard { display: block; overflow: auto; max-width: 100%; max-height: 36em; }
.grid { display: flex; flex-wrap: wrap; gap: 12px; }
.chart { background: #fff; border: 1px solid #d8dee4; margin: 12px 0; }"""

    /// The whole page; user strings are HTML-encoded in markup and in the charts' JSON.
    let render (input: ReportInput) : string =
        let standings = Leaderboard.rank input.Trials
        let names = Leaderboard.settingNames input.Trials
        let failures = Leaderboard.failures input.Trials
        let html = StringBuilder()
        let add (s: string) = html.Append(s).Append('\n') |> ignore
        add "<!DOCTYPE html>"
        add "<html lang=\"en\">"
        add "<head>"
        add "<meta charset=\"utf-8\">"
        // Defence in depth: even markup that slipped through escaping could fetch nothing from anywhere.
        // plotly.js draws parallel coordinates with regl, which generates code with `Function`: hence 'unsafe-eval'.
        add "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data:\">"
        add "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        add (sprintf "<title>Sweep report: %s</title>" (encode input.SweepName))
        add "<link rel=\"icon\" href=\"data:,\">"
        add (sprintf "<style>\n%s\n</style>" style)
        add (sprintf "<script>\n%s\n</script>" plotlyJs.Value)
        add "</head>"
        add "<body>"
        add "<main>"
        add (sprintf "<h1>Sweep report: %s</h1>" (encode input.SweepName))
        add (sprintf "<p class=\"meta\">Data: %s · %s · generated %s</p>" (encode input.DataName) (encode (ReportFormat.counts input.Trials)) (ReportFormat.timestamp input.GeneratedUtc))
        if not (String.IsNullOrWhiteSpace input.Notes) then
            add (sprintf "<h2>Notes</h2>\n<p class=\"notes\">%s</p>" (encode (input.Notes.Trim())))
        add "<h2>Leaderboard</h2>"
        add (sprintf "<p>%s</p>" (encode ReportTables.leaderboardNote))
        if standings.IsEmpty then
            add "<p>No trial has completed.</p>"
        else
            add (table "leaderboard" (ReportTables.leaderboard names standings))
        match standings with
        | best :: _ ->
            add "<h2>Best configuration</h2>"
            add (
                sprintf
                    "<p>Configuration %s: %s.<br>Validation accuracy %s; test accuracy %s.</p>"
                    (ReportFormat.configuration best.Configuration)
                    (encode (ReportFormat.settings best.Values))
                    (ReportFormat.percent best.ValidationAccuracy)
                    (ReportFormat.optional ReportFormat.percent best.TestAccuracy)
            )
            add "<h2>Learning curves</h2>"
            add (chart "chart-learning" (ReportCharts.learningCurves standings))
            if not names.IsEmpty then
                add "<h2>Settings vs validation accuracy</h2>"
                add (chart "chart-parallel" (ReportCharts.parallelCoordinates names standings))
                add "<div class=\"grid\">"
                names |> List.iteri (fun i name -> add (chart (sprintf "chart-setting-%d" i) (ReportCharts.setting name standings)))
                add "</div>"
        | [] -> ()
        add "<h2>Confusion matrix</h2>"
        match input.Confusion with
        | Some matrix -> add (chart "chart-confusion" (ReportCharts.confusion input.ClassNames matrix))
        | None -> add "<p>No confusion matrix was recorded.</p>"
        add "<h2>Failed and diverged trials</h2>"
        if failures.IsEmpty then
            add "<p>None.</p>"
        else
            add (table "failures" (ReportTables.failures failures))
        add "<h2>Verification</h2>"
        if input.Verifications.IsEmpty then
            add "<p>No trial was re-run for verification.</p>"
        else
            add (sprintf "<p>Verified bit-identical: %s.</p>" (ReportFormat.verified input.Verifications))
            add (table "verifications" (ReportTables.verifications input.Verifications))
        add "<h2>Manifest</h2>"
        add (table "manifest" (ReportTables.manifest input.Manifest))
        add "</main>"
        add "</body>"
        add "</html>"
        html.ToString()

[<RequireQualifiedAccess>]
module Report =

    /// Writes beside the target and renames over it, so a reader never sees half a file.
    let private writeAtomically (path: string) (text: string) =
        let temporary = sprintf "%s.%s.tmp" path (Guid.NewGuid().ToString "N")
        try
            File.WriteAllText(temporary, text, UTF8Encoding false)
            File.Move(temporary, path, true)
        finally
            if File.Exists temporary then File.Delete temporary

    /// Writes report.html, report.md and trials.csv into the directory (created if needed).
    let write (directory: string) (input: ReportInput) : ReportPaths =
        Directory.CreateDirectory directory |> ignore
        let paths =
            { Html = Path.Combine(directory, "report.html")
              Markdown = Path.Combine(directory, "report.md")
              Csv = Path.Combine(directory, "trials.csv") }
        writeAtomically paths.Csv (TrialsCsv.render input.Trials)
        writeAtomically paths.Markdown (Markdown.render input)
        writeAtomically paths.Html (ReportHtml.render input)
        paths
