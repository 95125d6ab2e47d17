namespace Hybrid

open System
open Plotly.NET

// What an adaptive search's report adds: how far each configuration got, the budget curve, the
// sampler's proposals over time, and every recorded decision.

/// One configuration of an adaptive search as the report shows it.
type Fate = {
    Configuration: int
    Values: (Setting * Value) list
    /// The most epochs any of its seeds trained.
    Epochs: int
    Pruned: bool
    /// Mean validation accuracy over its seeds at the epoch it got to (each seed's kept epoch up to there).
    Validation: float
}

[<RequireQualifiedAccess>]
module SearchReport =

    /// Whether the trials come from an adaptive search: some trial paused or pruned, or decisions recorded.
    let applies (input: ReportInput) = not input.Decisions.IsEmpty

    let private pruned (t: StoredTrial) = t.State = TrialState.Finished Pruned

    /// Each configuration, in the order the sampler proposed it.
    let fates (trials: StoredTrial list) : Fate list =
        trials
        |> List.groupBy _.Configuration
        |> List.sortBy fst
        |> List.map (fun (configuration, group) ->
            let epochs = group |> List.map _.History.Length |> List.max

            {
                Configuration = configuration
                Values = group.Head.Values
                Epochs = epochs
                Pruned = List.exists pruned group
                Validation =
                    group
                    |> List.sortBy _.Seed
                    |> List.averageBy (fun t -> Search.figureAt t.Settings.Keep epochs t.History)
            })

    /// The budget curve: after each configuration (in proposal order), the epochs spent so far by
    /// every trial and the best mean validation accuracy (by `Ranking`) of those completed so far.
    let budget (trials: StoredTrial list) : (int * float) list =
        let configurations =
            trials |> List.map _.Configuration |> List.distinct |> List.sort

        configurations
        |> List.scan
            (fun (spent, _) c ->
                let upTo = trials |> List.filter (fun t -> t.Configuration <= c)

                let ofThis =
                    trials
                    |> List.filter (fun t -> t.Configuration = c)
                    |> List.sumBy _.History.Length

                spent + ofThis,
                Ranking.best StoredTrial.rankEntry upTo
                |> Option.map _.MeanValidation
                |> Option.defaultValue nan)
            (0, nan)
        |> List.tail

    let private grey = Color.fromHex "#afb8c1"

    /// Best-so-far validation accuracy against epochs spent.
    let budgetChart (trials: StoredTrial list) : GenericChart =
        let points = budget trials

        Chart.Line(
            points |> List.map fst,
            points |> List.map (snd >> (*) 100.0),
            Name = "best so far",
            LineColor = Color.fromHex "#1f77b4"
        )
        |> Chart.withLineStyle (Shape = StyleParam.Shape.Hv)
        |> Chart.withXAxisStyle (TitleText = "epochs spent (all trials)")
        |> Chart.withYAxisStyle (TitleText = "best mean validation accuracy (%)")
        |> Chart.withTitle "Budget curve: the best configuration so far against the epochs spent"
        |> Chart.withSize (1000, 400)

    /// Each configuration at its proposal's place, at the validation accuracy it reached; pruned ones grey.
    let proposalsChart (trials: StoredTrial list) : GenericChart =
        let fates = fates trials

        let trace (name: string) (color: Color) (keep: Fate -> bool) =
            let shown = fates |> List.filter keep

            Chart.Point(
                shown |> List.map _.Configuration,
                shown |> List.map (fun f -> 100.0 * f.Validation),
                Name = name,
                MultiText =
                    (shown
                     |> List.map (fun f ->
                         ReportCharts.label (
                             sprintf
                                 "%s, %d epochs: %s"
                                 (ReportFormat.configuration f.Configuration)
                                 f.Epochs
                                 (ReportFormat.settings f.Values)
                         ))),
                MarkerColor = color
            )

        [
            trace "trained to the end" (Color.fromHex "#1f77b4") (fun f -> not f.Pruned)
            trace "pruned" grey _.Pruned
        ]
        |> Chart.combine
        |> Chart.withXAxisStyle (TitleText = "configuration (order proposed)")
        |> Chart.withYAxisStyle (TitleText = "validation accuracy where it stopped (%)")
        |> Chart.withTitle "The sampler's proposals over time"
        |> Chart.withSize (1000, 400)

    /// A recorded decision as a reader wants it: the rung scores, kept exact in the store so that
    /// `Sweep.verify` compares them bit for bit, shown as percentages with two decimals.
    let readable (detail: string) =
        Text.RegularExpressions.Regex.Replace(
            detail,
            @"\(([0-9][0-9.eE+-]*)\)",
            fun m ->
                match
                    Double.TryParse(
                        m.Groups[1].Value,
                        Globalization.NumberStyles.Float,
                        Globalization.CultureInfo.InvariantCulture
                    )
                with
                | true, score -> sprintf "(%.2f%%)" (100.0 * score)
                | _ -> m.Value
        )

    let decisions (decisions: StoredDecision list) =
        [ "batch"; "rung"; "decision" ],
        decisions
        |> List.map (fun d -> [
            string d.Batch
            (if d.Rung < 0 then "proposal" else string d.Rung)
            readable d.Detail
        ])

    /// Every configuration with how far it got; the HTML greys the pruned rows.
    let fatesTable (trials: StoredTrial list) =
        [ "configuration"; "settings"; "epochs"; "validation accuracy"; "outcome" ],
        fates trials
        |> List.map (fun f ->
            f.Pruned,
            [
                ReportFormat.configuration f.Configuration
                ReportFormat.settings f.Values
                string f.Epochs
                sprintf "%.2f %%" (100.0 * f.Validation)
                (if f.Pruned then "pruned" else "trained to the end")
            ])

    /// "1,234 epochs spent; best 97.15 % after 456 of them".
    let summary (trials: StoredTrial list) =
        let points = budget trials

        match points |> List.tryFindIndex (fun (_, best) -> best = snd (List.last points)) with
        | Some i when not (System.Double.IsNaN(snd points[i])) ->
            sprintf
                "%d epochs spent in all; the best configuration's %.2f %% was reached after %d of them."
                (fst (List.last points))
                (100.0 * snd points[i])
                (fst points[i])
        | _ ->
            sprintf
                "%d epochs spent; no configuration completed yet."
                (points |> List.tryLast |> Option.map fst |> Option.defaultValue 0)
