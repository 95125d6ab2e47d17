namespace Hybrid

open System

/// A completed trial as the ranking sees it: its configuration, its seed and its validation figure.
type RankEntry = { Configuration: int; Seed: uint64; Validation: float }

/// One configuration's place in a ranking.
type Ranked<'trial> = {
    Configuration: int
    /// The mean validation figure over the configuration's completed seeds.
    MeanValidation: float
    /// The configuration's completed trials, in seed order.
    Completed: 'trial list
}

/// "Best", defined once for the progress line, the summary, the report, `best/`, verification and the
/// search strategies: configurations ordered by their mean validation accuracy over completed seeds
/// (higher first); ties go to the configuration with more completed seeds, then to the lower
/// configuration index. Trials that did not complete, or whose figure is not finite, do not count.
[<RequireQualifiedAccess>]
module Ranking =

    /// Ranks any kind of trial, given what the ranking needs of a completed one (None for the others).
    let rank (entry: 'trial -> RankEntry option) (trials: 'trial list) : Ranked<'trial> list =
        trials
        |> List.choose (fun t ->
            entry t
            |> Option.filter (fun e -> Double.IsFinite e.Validation)
            |> Option.map (fun e -> e, t))
        |> List.groupBy (fun (e, _) -> e.Configuration)
        |> List.map (fun (configuration, group) ->
            // Summed in seed order, so the mean has the same bits whatever order the trials finished in.
            let bySeed = group |> List.sortBy (fun (e, _) -> e.Seed)

            {
                Configuration = configuration
                MeanValidation = bySeed |> List.averageBy (fun (e, _) -> e.Validation)
                Completed = List.map snd bySeed
            })
        |> List.sortBy (fun r -> -r.MeanValidation, -r.Completed.Length, r.Configuration)

    /// The first configuration of the ranking, if any trial completed.
    let best (entry: 'trial -> RankEntry option) (trials: 'trial list) : Ranked<'trial> option =
        rank entry trials |> List.tryHead

    /// What the ranking needs of a result just produced.
    let ofResult (r: TrialResult) : RankEntry option =
        match r.Status with
        | Completed ->
            Some {
                Configuration = r.Trial.Configuration
                Seed = r.Trial.Seed
                Validation = r.ValidationAccuracy
            }
        | Diverged
        | Failed
        | Pruned -> None
