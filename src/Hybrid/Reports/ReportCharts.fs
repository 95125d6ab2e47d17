namespace Hybrid

open System
open System.Globalization
open Plotly.NET
open Plotly.NET.TraceObjects

// The report's charts, as Plotly.NET figures.

[<RequireQualifiedAccess>]
module ReportCharts =

    /// Long labels are cut so they leave room for the plot.
    let private shorten (text: string) = if text.Length > 28 then text.Substring(0, 27) + "…" else text

    /// A user string as a chart label. plotly.js reads labels as a small subset of HTML (<b>, <a href>,
    /// <br>...) and decodes &lt; &gt; &amp; for display, so these three are encoded and the text
    /// shows as written.
    let label (text: string) = (shorten text).Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;")

    let private palette = [| "#1f77b4"; "#d62728"; "#2ca02c" |]

    /// A numeric setting's value as a number; None for a kind (skip, optimizer, schedule).
    let private number (value: Value) =
        match value with
        | Int i -> Some(float i)
        | Float f when Double.IsFinite f -> Some f
        | Float _
        | SkipValue _
        | OptimizerValue _
        | ScheduleValue _ -> None

    /// The values as numbers when every one is a finite number.
    let private numbers (values: Value option list) =
        let parsed = values |> List.choose (Option.bind number)

        if parsed.Length = values.Length && not parsed.IsEmpty then
            Some parsed
        else
            None

    let private formatted (value: Value option) = value |> Option.map Value.format |> Option.defaultValue ""

    /// Positive values over a decade or more read better on a log scale (learning rates).
    let private wide (xs: float list) = List.min xs > 0.0 && List.max xs / List.min xs >= 10.0

    /// 1, 2 and 5 times the powers of ten from `low` to `high`: log-axis ticks that read easily.
    let private logTicks (low: float) (high: float) = [
        for decade in floor (log10 low) .. ceil (log10 high) do
            for m in [ 1.0; 2.0; 5.0 ] do
                let x = m * 10.0 ** decade

                if x >= low * (1.0 - 1e-9) && x <= high * (1.0 + 1e-9) then
                    x
    ]

    /// A trial's train (solid) and validation (dashed) loss per epoch, as one legend group; hovering
    /// a line tells its seed.
    let private lossCurves (group: string) (color: Color) (showLegend: bool) (t: StoredTrial) =
        let validation =
            t.History
            |> List.choose (fun m -> m.ValidationLoss |> Option.ofNullable |> Option.map (fun v -> m.Epoch, v))

        let seed = sprintf "seed %d" t.Seed

        [
            Chart.Line(
                t.History |> List.map _.Epoch,
                t.History |> List.map _.TrainLoss,
                Name = group + " train",
                Text = seed,
                LineColor = color
            )
            Chart.Line(
                List.map fst validation,
                List.map snd validation,
                Name = group + " validation",
                Text = seed,
                LineColor = color,
                LineDash = StyleParam.DrawingStyle.Dash
            )
        ]
        |> List.map (Chart.withTraceInfo (LegendGroup = group, ShowLegend = showLegend))

    let private lossChart (title: string) (curves: GenericChart list) =
        curves
        |> Chart.combine
        |> Chart.withXAxisStyle (TitleText = "epoch")
        |> Chart.withYAxisStyle (TitleText = "loss (log scale)", AxisType = StyleParam.AxisType.Log)
        |> Chart.withTitle title
        |> Chart.withSize (1000, 480)

    /// Train (solid) and validation (dashed) loss per epoch of each trial of the best three configurations.
    let learningCurves (standings: Standing list) : GenericChart =
        standings
        |> List.truncate palette.Length
        |> List.mapi (fun rank s ->
            // One legend entry per configuration and curve.
            s.Trials
            |> List.mapi (fun i t ->
                lossCurves (ReportFormat.configuration s.Configuration) (Color.fromHex palette[rank]) (i = 0) t)
            |> List.concat)
        |> List.concat
        |> lossChart "Learning curves of the best configurations (solid: train, dashed: validation)"

    /// Plotly's ten default colours, one per running trial (repeating after ten).
    let private trialColors = [|
        "#1f77b4"
        "#ff7f0e"
        "#2ca02c"
        "#d62728"
        "#9467bd"
        "#8c564b"
        "#e377c2"
        "#7f7f7f"
        "#bcbd22"
        "#17becf"
    |]

    /// Train (solid) and validation (dashed) loss of each running trial, up to its latest recorded epoch.
    let runningCurves (running: StoredTrial list) : GenericChart =
        running
        |> List.sortBy (fun t -> t.Configuration, t.Seed)
        |> List.mapi (fun i t ->
            let group = sprintf "%s seed %d" (ReportFormat.configuration t.Configuration) t.Seed
            lossCurves group (Color.fromHex trialColors[i % trialColors.Length]) true t)
        |> List.concat
        |> lossChart "Learning curves of the running trials, epoch by epoch (solid: train, dashed: validation)"

    /// One axis per setting and one for validation accuracy, one line per configuration (its mean).
    /// Categorical settings become indices labelled with their values; wide numeric ones, log10.
    let parallelCoordinates (settings: Setting list) (standings: Standing list) : GenericChart =
        let dimension (setting: Setting) =
            let name = Setting.name setting
            let values = standings |> List.map (fun s -> Leaderboard.valueOf setting s.Values)

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
                let values = List.map formatted values
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
            [
                yield! List.map dimension settings
                yield Dimension.initParallel (Label = "validation accuracy (%)", Values = accuracy)
            ],
            LineColor = Color.fromColorScaleValues accuracy,
            LineColorScale = StyleParam.Colorscale.Viridis,
            ShowLineColorScale = true
        )
        |> Chart.withTitle "Settings vs mean validation accuracy, one line per configuration"
        |> Chart.withSize (1000, 460)

    /// Validation accuracy of every completed trial against one setting's value.
    let setting (setting: Setting) (standings: Standing list) : GenericChart =
        let name = Setting.name setting
        let trials = standings |> List.collect _.Trials

        let accuracy =
            trials
            |> List.map (fun t -> 100.0 * Option.defaultValue nan t.ValidationAccuracy)

        let labels =
            trials
            |> List.map (fun t -> sprintf "%s seed %d" (ReportFormat.configuration t.Configuration) t.Seed)

        let values = trials |> List.map (fun t -> Leaderboard.valueOf setting t.Values)

        let chart, axisType =
            match numbers values with
            | Some xs ->
                Chart.Point(xs, accuracy, MultiText = labels),
                (if wide xs then StyleParam.AxisType.Log else StyleParam.AxisType.Linear)
            | None ->
                Chart.Point(values |> List.map (formatted >> label), accuracy, MultiText = labels),
                StyleParam.AxisType.Category

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
