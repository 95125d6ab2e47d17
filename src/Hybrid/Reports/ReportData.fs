namespace Hybrid

open System
open System.Globalization
open Hybrid.Engine.Training

// What a report shows, computed from the store's records: trials, standings, formatted figures.

/// Everything a report shows; every string in it may come from a user and is escaped on output.
type ReportInput = {
    SweepName: string
    Notes: string
    DataName: string
    ClassNames: string[]
    Trials: StoredTrial list
    Manifest: (string * string) list
    /// The best model on the test split: rows are true classes, columns predicted ones.
    Confusion: int[,] option
    /// Re-runs of finished trials from their stored records (see `Sweep.verify`).
    Verifications: Verification list
    /// An adaptive search's recorded decisions (none for a grid, random or Sobol sweep).
    Decisions: StoredDecision list
    GeneratedUtc: DateTime
}

type ReportPaths = { Html: string; Markdown: string; Latex: string; Csv: string }

[<RequireQualifiedAccess>]
module ReportInput =

    /// What the store holds about a sweep, as a report shows it; generated now.
    let ofStore
        (sweep: Sweep)
        (manifest: (string * string) list)
        (trials: StoredTrial list)
        (verifications: Verification list)
        (decisions: StoredDecision list)
        (confusion: int[,] option)
        = {
        SweepName = sweep.Name
        Notes = sweep.Notes
        DataName = sweep.Data.Name
        ClassNames = sweep.Data.Split.Train.ClassNames
        Trials = trials
        Manifest = manifest
        Confusion = confusion
        Verifications = verifications
        Decisions = decisions
        GeneratedUtc = DateTime.UtcNow
    }

/// One configuration's results over its completed seeds.
type Standing = {
    Configuration: int
    Values: (Setting * Value) list
    /// The completed trials the figures summarize, in seed order.
    Trials: StoredTrial list
    /// How many trials the configuration has in any state.
    Runs: int
    ValidationAccuracy: Summary
    ValidationLoss: Summary option
    TestAccuracy: Summary option
    TestLoss: Summary option
    /// Welch's p-value for "same mean validation accuracy as the leader"; None for the leader
    /// itself and where either side has fewer than two seeds.
    VersusLeader: float option
}

[<RequireQualifiedAccess>]
module Leaderboard =

    let private summarize (pick: StoredTrial -> float option) (trials: StoredTrial list) =
        match List.choose pick trials with
        | [] -> None
        | values -> Some(Statistics.summarize values)

    /// Configurations with at least one completed trial, in the order of `Ranking`.
    let rank (trials: StoredTrial list) : Standing list =
        let runs = trials |> List.countBy _.Configuration |> Map.ofList

        let ranked =
            Ranking.rank StoredTrial.rankEntry trials
            |> List.map (fun r ->
                let completed = r.Completed

                {
                    Configuration = r.Configuration
                    Values = completed.Head.Values
                    Trials = completed
                    Runs = runs[r.Configuration]
                    ValidationAccuracy = (summarize _.ValidationAccuracy completed).Value
                    ValidationLoss = summarize _.ValidationLoss completed
                    TestAccuracy = summarize _.TestAccuracy completed
                    TestLoss = summarize _.TestLoss completed
                    VersusLeader = None
                })

        let accuracies (s: Standing) = s.Trials |> List.choose _.ValidationAccuracy

        match ranked with
        | [] -> []
        | leader :: rest ->
            let versus (s: Standing) =
                if leader.ValidationAccuracy.N < 2 || s.ValidationAccuracy.N < 2 then
                    None
                else
                    Some(Statistics.welch (accuracies leader) (accuracies s))

            leader :: (rest |> List.map (fun s -> { s with VersusLeader = versus s }))

    /// The trials that failed or diverged, in configuration and seed order.
    let failures (trials: StoredTrial list) =
        trials
        |> List.filter (fun t ->
            match t.State with
            | TrialState.Finished(Diverged | Failed) -> true
            | TrialState.Finished(Completed | Pruned)
            | TrialState.Pending
            | TrialState.Running
            | TrialState.Paused -> false)
        |> List.sortBy (fun t -> t.Configuration, t.Seed)

    /// Every setting the trials vary, in order of first appearance.
    let settings (trials: StoredTrial list) = trials |> List.collect (fun t -> List.map fst t.Values) |> List.distinct

    /// A setting's value among a trial's values, if the trial has the setting.
    let valueOf (setting: Setting) (values: (Setting * Value) list) =
        values |> List.tryFind (fst >> (=) setting) |> Option.map snd

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

    let settings (values: (Setting * Value) list) =
        values
        |> List.map (fun (s, v) -> sprintf "%s = %s" (Setting.name s) (Value.format v))
        |> String.concat ", "

    /// A setting's formatted value; empty when the trial does not have the setting.
    let value (setting: Setting) (values: (Setting * Value) list) =
        Leaderboard.valueOf setting values
        |> Option.map Value.format
        |> Option.defaultValue ""

    let seeds (s: Standing) = sprintf "%d of %d" s.Trials.Length s.Runs

    let timestamp (utc: DateTime) = utc.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + " UTC"

    /// "12 trials: 10 completed, 1 diverged, 1 failed".
    let counts (trials: StoredTrial list) =
        let parts =
            TrialState.all
            |> List.choose (fun state ->
                match trials |> List.filter (fun t -> t.State = state) |> List.length with
                | 0 -> None
                | n -> Some(sprintf "%d %s" n (TrialState.name state)))

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

    let leaderboard (settings: Setting list) (standings: Standing list) =
        [ "rank"; "configuration" ]
        @ List.map Setting.name settings
        @ [
            "validation accuracy"
            "test accuracy"
            "validation loss"
            "test loss"
            "seeds"
            "p vs #1"
        ],
        standings
        |> List.mapi (fun i s ->
            [ string (i + 1); ReportFormat.configuration s.Configuration ]
            @ (settings |> List.map (fun setting -> ReportFormat.value setting s.Values))
            @ [
                ReportFormat.percent s.ValidationAccuracy
                ReportFormat.optional ReportFormat.percent s.TestAccuracy
                ReportFormat.optional ReportFormat.loss s.ValidationLoss
                ReportFormat.optional ReportFormat.loss s.TestLoss
                ReportFormat.seeds s
                ReportFormat.pValue s.VersusLeader
            ])

    let failures (failures: StoredTrial list) =
        [ "trial"; "configuration"; "seed"; "status"; "reason" ],
        failures
        |> List.map (fun t -> [
            ReportFormat.shortKey t.Key
            ReportFormat.configuration t.Configuration
            string t.Seed
            TrialState.name t.State
            t.Reason
        ])

    let verifications (verifications: Verification list) =
        [ "trial"; "verified"; "bit-identical"; "detail" ],
        verifications
        |> List.map (fun v -> [
            ReportFormat.shortKey v.Key
            ReportFormat.timestamp v.VerifiedUtc
            (if v.Identical then "yes" else "no")
            v.Detail
        ])

    let manifest (items: (string * string) list) = [ "item"; "value" ], items |> List.map (fun (k, v) -> [ k; v ])
