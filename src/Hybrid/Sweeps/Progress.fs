namespace Hybrid

open System
open Spectre.Console

/// What a sweep has done so far, updated from its run events on the recording thread.
type Tally = {
    Total: int
    Finished: int
    Running: int
    Failed: int
    Diverged: int
    /// Every completed trial so far (those of earlier runs included), for the ranking.
    Completed: RankEntry list
    Started: DateTime
    /// Trials already finished before this run began (resumed sweeps): not counted for the ETA.
    Skipped: int
}

[<RequireQualifiedAccess>]
module Tally =

    /// A tally of `total` trials, `skipped` of them finished before this run, `completed` among those.
    let start total skipped (completed: RankEntry list) = {
        Total = total
        Finished = skipped
        Running = 0
        Failed = 0
        Diverged = 0
        Completed = completed
        Started = DateTime.UtcNow
        Skipped = skipped
    }

    let update (t: Tally) (e: RunEvent) =
        match e with
        | Started _ -> { t with Running = t.Running + 1 }
        | EpochDone _ -> t
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

    /// Remaining time from the pace of the trials this run finished; None before the first.
    let eta (t: Tally) =
        let ran = t.Finished - t.Skipped

        if ran = 0 then
            None
        else
            Some(
                TimeSpan.FromSeconds(
                    (DateTime.UtcNow - t.Started).TotalSeconds / float ran
                    * float (t.Total - t.Finished)
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

        sprintf
            "%d/%d done, %d running, %d failed, %d diverged, %s, %s"
            t.Finished
            t.Total
            t.Running
            t.Failed
            t.Diverged
            best
            eta

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
                        (100.0 * Search.figureAt c.Epoch (List.ofSeq c.History))
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
                    ctx.AddTask(Markup.Escape(Tally.describe state), maxValue = float state.Total)

                task.Value <- float state.Finished

                body (fun e ->
                    state <- Tally.update state e
                    task.Value <- float state.Finished
                    task.Description <- Markup.Escape(Tally.describe state)))

        state

    /// Runs `body`, showing its events; returns the final tally.
    let show (total: int) (skipped: int) (completed: RankEntry list) (body: (RunEvent -> unit) -> unit) : Tally =
        let tally = Tally.start total skipped completed

        if AnsiConsole.Profile.Capabilities.Interactive && not Console.IsOutputRedirected then
            live tally body
        else
            plain tally body
