namespace Hybrid

open System
open Spectre.Console

/// What a sweep's progress is measured in: trials for a fixed list; epochs for an adaptive search,
/// whose pruned trials end by a decision rather than a run, and whose rungs fix its epochs in advance.
[<RequireQualifiedAccess>]
type Budget =
    | Trials of total: int
    /// The epochs stored before this run began, and the search's most (`Search.epochBudget`).
    | Epochs of before: int * total: int

/// What a sweep has done so far, updated from its run events on the recording thread.
type Tally = {
    Budget: Budget
    Finished: int
    Running: int
    Failed: int
    Diverged: int
    /// Every completed trial so far (those of earlier runs included), for the ranking.
    Completed: RankEntry list
    Started: DateTime
    /// Trials already finished before this run began (resumed sweeps): not counted for the ETA.
    Skipped: int
    /// Epochs this run trained.
    EpochsRun: int
}

[<RequireQualifiedAccess>]
module Tally =

    /// A tally against `budget`, `skipped` trials finished before this run, `completed` among those.
    let start (budget: Budget) skipped (completed: RankEntry list) = {
        Budget = budget
        Finished = skipped
        Running = 0
        Failed = 0
        Diverged = 0
        Completed = completed
        Started = DateTime.UtcNow
        Skipped = skipped
        EpochsRun = 0
    }

    let update (t: Tally) (e: RunEvent) =
        match e with
        | Started _ -> { t with Running = t.Running + 1 }
        | EpochDone _ -> { t with EpochsRun = t.EpochsRun + 1 }
        | Paused _ -> { t with Running = t.Running - 1 }
        | Finished(r, _) -> {
            t with
                Finished = t.Finished + 1
                Running = t.Running - 1
                Failed = t.Failed + (if r.Status = Failed then 1 else 0)
                Diverged = t.Diverged + (if r.Status = Diverged then 1 else 0)
                Completed = Option.toList (Ranking.ofResult r) @ t.Completed
          }

    /// The best configuration so far, by the one ranking.
    let best (t: Tally) = Ranking.best Some t.Completed

    /// How far along the budget: (done, total), in trials or epochs.
    let position (t: Tally) =
        match t.Budget with
        | Budget.Trials total -> t.Finished, total
        | Budget.Epochs(before, total) -> min total (before + t.EpochsRun), total

    /// Remaining time from the pace of this run (trials or epochs done); None before the first.
    let eta (t: Tally) =
        let ran =
            match t.Budget with
            | Budget.Trials _ -> t.Finished - t.Skipped
            | Budget.Epochs _ -> t.EpochsRun

        let finished, total = position t

        if ran = 0 then
            None
        else
            Some(
                TimeSpan.FromSeconds(
                    (DateTime.UtcNow - t.Started).TotalSeconds / float ran
                    * float (total - finished)
                )
            )

    let describe (t: Tally) =
        let best =
            best t
            |> Option.map (fun b ->
                sprintf "best #%d %.2f%% (mean of %d)" b.Configuration (100.0 * b.MeanValidation) b.Completed.Length)
            |> Option.defaultValue "best —"

        let eta =
            eta t
            |> Option.map (fun s -> sprintf "ETA %s" (s.ToString @"h\:mm\:ss"))
            |> Option.defaultValue "ETA —"

        let finished, total = position t

        let share =
            match t.Budget with
            | Budget.Trials _ -> sprintf "%d/%d done" finished total
            | Budget.Epochs _ -> sprintf "%d of at most %d epochs, %d trials completed" finished total t.Finished

        sprintf "%s, %d running, %d failed, %d diverged, %s, %s" share t.Running t.Failed t.Diverged best eta

/// The live display of a sweep: a Spectre.Console progress bar on an interactive terminal, plain
/// lines (one per finished trial) when output is redirected, as in CI or a log file.
[<RequireQualifiedAccess>]
module Progress =

    let private line (r: TrialResult) (t: Tally) =
        let outcome =
            match r.Status with
            | Completed ->
                sprintf "validation %.2f%%, test %.2f%%" (100.0 * r.ValidationAccuracy) (100.0 * r.TestAccuracy)
            | Diverged
            | Failed -> sprintf "%A: %s" r.Status r.Reason
            | Pruned -> "pruned"

        sprintf "#%d seed %d: %s (%.1f s) | %s" r.Trial.Configuration r.Trial.Seed outcome r.Seconds (Tally.describe t)

    let private plain (tally: Tally) (body: (RunEvent -> unit) -> unit) =
        let mutable state = tally

        body (fun e ->
            state <- Tally.update state e

            match e with
            | Finished(r, _) -> Console.WriteLine(line r state)
            | Started(t, Some epoch) ->
                Console.WriteLine(
                    sprintf "#%d seed %d: resumed after epoch %d, from its checkpoint" t.Configuration t.Seed epoch
                )
            | Paused(t, c) ->
                Console.WriteLine(
                    sprintf
                        "#%d seed %d: at its rung after epoch %d, validation %.2f%%"
                        t.Configuration
                        t.Seed
                        c.Epoch
                        (100.0 * Search.figureAt t.Settings.Keep c.Epoch (List.ofSeq c.History))
                )
            | _ -> ())

        state

    let private live (tally: Tally) (body: (RunEvent -> unit) -> unit) =
        let mutable state = tally

        AnsiConsole
            .Progress()
            .Columns(TaskDescriptionColumn(), ProgressBarColumn(), PercentageColumn(), RemainingTimeColumn())
            .Start(fun ctx ->
                let task =
                    ctx.AddTask(Markup.Escape(Tally.describe state), maxValue = float (snd (Tally.position state)))

                task.Value <- float (fst (Tally.position state))

                body (fun e ->
                    state <- Tally.update state e
                    task.Value <- float (fst (Tally.position state))
                    task.Description <- Markup.Escape(Tally.describe state)))

        state

    /// Runs `body`, showing its events; returns the final tally.
    let show (budget: Budget) (skipped: int) (completed: RankEntry list) (body: (RunEvent -> unit) -> unit) : Tally =
        let tally = Tally.start budget skipped completed

        if AnsiConsole.Profile.Capabilities.Interactive && not Console.IsOutputRedirected then
            live tally body
        else
            plain tally body
