namespace Hybrid

open System
open System.Collections.Generic
open System.Globalization
open Hybrid.Engine.Model
open Hybrid.Engine.Training

/// What the store knows of one trial, as far as an adaptive search is concerned.
[<RequireQualifiedAccess>]
type TrialProgress =
    /// Pending or running.
    | Waiting
    /// Stopped at the end of its rung, waiting for the rung's decision; its epochs so far.
    | AtRung of EpochMetrics list
    /// Finished (pruned included), with its epochs.
    | Ended of Status * EpochMetrics list

/// A batch of configurations and how the sampler came to them.
type Proposal = {
    Batch: int
    /// The batch's rungs in epochs; the last is the settings' Epochs.
    Rungs: int list
    Configurations: (int * (Setting * Value) list) list
    /// "random", "Sobol", or "TPE over n observations (g good)".
    How: string
}

/// A rung's decision: each configuration's score (mean validation accuracy over its seeds at the
/// rung's epoch, best first) and who goes on.
type Promotion = {
    Batch: int
    Rung: int
    Epoch: int
    Promoted: (int * float) list
    Pruned: (int * float) list
}

[<RequireQualifiedAccess>]
type Decision =
    | Propose of Proposal
    | Promote of Promotion

/// A write that applies a decision to the store.
[<RequireQualifiedAccess>]
type Change =
    /// A new trial, to train up to the given epoch (None: to the end).
    | Add of Trial * until: int option
    /// A trial stopped at its rung goes on, from its checkpoint, up to the given epoch.
    | Resume of key: string * until: int option
    /// A trial stopped at its rung ends there.
    | Prune of key: string

/// What the search needs next.
[<RequireQualifiedAccess>]
type Step =
    /// A decision to record, with the writes that apply it (all in one transaction).
    | Apply of Decision * Change list
    /// Trials are pending or running: decide nothing until they are all at their rung.
    | Train
    | Done

/// Everything an adaptive search has decided so far, re-derived from its definition and results.
type Plan = { Trials: Trial list; Decisions: Decision list; Next: Step }

[<RequireQualifiedAccess>]
module Decision =

    let private score (x: float) = x.ToString("R", CultureInfo.InvariantCulture)

    let private scored (pairs: (int * float) list) =
        pairs
        |> List.map (fun (c, s) -> sprintf "#%d (%s)" c (score s))
        |> String.concat ", "

    /// Batch and rung: a proposal is rung −1 of its batch, so decisions sort in the order they are made.
    let position (decision: Decision) =
        match decision with
        | Decision.Propose p -> p.Batch, -1
        | Decision.Promote p -> p.Batch, p.Rung

    /// One line that says everything the decision is: what the store records and `Sweep.verify` compares.
    let describe (decision: Decision) =
        match decision with
        | Decision.Propose p ->
            sprintf
                "batch %d (rungs at %s epochs): %s proposed %s"
                p.Batch
                (p.Rungs |> List.map string |> String.concat ", ")
                p.How
                (p.Configurations |> List.map (fst >> sprintf "#%d") |> String.concat ", ")
        | Decision.Promote p ->
            sprintf
                "batch %d, rung %d (%d epochs): promoted %s; pruned %s"
                p.Batch
                p.Rung
                p.Epoch
                (scored p.Promoted)
                (if p.Pruned.IsEmpty then "none" else scored p.Pruned)

/// An adaptive search replayed from its results: every proposal and promotion is a pure function of
/// the sweep's definition, its seed and the results of earlier batches and rungs, so any worker can
/// re-derive them, and all derive the same.
[<RequireQualifiedAccess; CompilationRepresentation(CompilationRepresentationFlags.ModuleSuffix)>]
module Search =

    let check (maxEpochs: int) (search: Search) =
        if search.Configurations < 1 || search.BatchSize < 1 then
            invalidArg
                (nameof search)
                (sprintf
                    "Search: expected at least 1 configuration and a batch size of at least 1, found %d and %d"
                    search.Configurations
                    search.BatchSize)

        match search.Sampler with
        | Sampler.Tpe options -> Tpe.check options
        | Sampler.Random
        | Sampler.Sobol -> ()

        Halving.ofBatch search.Pruning maxEpochs search.BatchSize 0 |> ignore

    /// The epochs the search trains at most: each batch's configurations to its first rung, each
    /// rung's survivors on to the next, under every seed (fewer when the space runs out of new
    /// configurations or a trial stops early).
    let epochBudget (maxEpochs: int) (search: Search) (seeds: int) : int =
        let rec batches batch proposed spent =
            if proposed >= search.Configurations then
                spent
            else
                let rungs, size = Halving.ofBatch search.Pruning maxEpochs search.BatchSize batch
                let size = min size (search.Configurations - proposed)

                let _, _, epochs =
                    rungs
                    |> List.fold
                        (fun (n, previous, total) rung ->
                            Halving.survivors search.Pruning n, rung, total + n * (rung - previous))
                        (size, 0, 0)

                batches (batch + 1) (proposed + size) (spent + epochs)

        seeds * batches 0 0 0

    /// The validation accuracy of the epoch the trainer keeps up to `epoch` under `keep`: the first
    /// with the lowest validation loss, or the first with the highest accuracy (NaN when none has a
    /// finite figure), so a rung ranks by what a trial stopped there would report.
    let figureAt (keep: KeepRule) (epoch: int) (history: EpochMetrics list) : float =
        // As the trainer decides: an epoch without a finite loss is never the loss rule's.
        let candidate (m: EpochMetrics) =
            m.Epoch <= epoch
            && m.ValidationLoss.HasValue
            && m.ValidationAccuracy.HasValue
            && (keep = KeepRule.HighestValidationAccuracy
                || Double.IsFinite m.ValidationLoss.Value)

        let better (m: EpochMetrics) (kept: EpochMetrics) =
            match keep with
            | KeepRule.HighestValidationAccuracy -> m.ValidationAccuracy.Value > kept.ValidationAccuracy.Value
            | _ -> m.ValidationLoss.Value < kept.ValidationLoss.Value

        history
        |> List.filter candidate
        |> List.fold
            (fun kept m ->
                match kept with
                | Some k when not (better m k) -> kept
                | _ -> Some m)
            None
        |> Option.map _.ValidationAccuracy.Value
        |> Option.defaultValue nan

    /// A configuration the sampler may propose: its position in [0, 1)^d and what it sets.
    type private Candidate = { Point: float[]; Values: (Setting * Value) list; Settings: Settings }

    /// A configuration seen by the sampler: where it is, how far it trained, how well it did there.
    type private Observation = { Point: float[]; Configuration: int; Epochs: int; Score: float }

    /// The sampler's state across batches: configurations already proposed, and how far along the Sobol sequence it is.
    type private Sampling(sweep: Sweep, search: Search) =
        let seen = HashSet<Settings>()
        let mutable sobolNext = 0

        let candidate (point: float[]) =
            let values =
                sweep.Space
                |> List.mapi (fun i (setting, domain) -> setting, Domain.at domain point[i])

            {
                Point = point
                Values = values
                Settings =
                    values
                    |> List.fold (fun s (setting, value) -> Setting.apply setting value s) sweep.Base
            }

        /// New configurations that meet every `Only` condition, from `draw`, until `count` or the attempts run out.
        let fresh (count: int) (draw: unit -> float[]) =
            let rec go found attempts =
                if List.length found = count || attempts = 0 then
                    List.rev found
                else
                    let c = candidate (draw ())

                    if
                        sweep.Only |> List.forall (fun (_, keep) -> keep c.Settings)
                        && seen.Add c.Settings
                    then
                        go (c :: found) (attempts - 1)
                    else
                        go found (attempts - 1)

            go [] (100 * count + 100)

        let random (rng: Rng) () = sweep.Space |> List.map (fun _ -> rng.NextDouble()) |> Array.ofList

        let sobol () =
            let point =
                if sweep.Space.IsEmpty then
                    [||]
                else
                    (Sobol.points sweep.Space.Length (sobolNext + 1)) |> List.last

            sobolNext <- sobolNext + 1
            point

        member _.Propose (batch: int) (count: int) (observed: Observation list) : Candidate list * string =
            // the batch's own stream: the sweep seed plus the batch index
            let rng = Rng(search.Seed + uint64 batch)

            match search.Sampler with
            | Sampler.Random -> fresh count (random rng), "random"
            | Sampler.Sobol -> fresh count sobol, "Sobol"
            | Sampler.Tpe options when observed.Length < options.Startup ->
                fresh count (random rng), "random (TPE start-up)"
            | Sampler.Tpe options ->
                let ranked =
                    observed
                    |> List.sortBy (fun o ->
                        -o.Epochs,
                        (if Double.IsNaN o.Score then Double.PositiveInfinity else -o.Score),
                        o.Configuration)
                    |> List.map _.Point

                let how =
                    sprintf "TPE over %d observations (%d good)" ranked.Length (Tpe.goodCount options ranked.Length)

                fresh count (fun () -> Tpe.propose options sweep.Space ranked rng), how

    /// The configurations ranked at a rung by `Ranking` (the one definition of "best"), each with its
    /// mean validation accuracy at the rung's epoch; those with no finite figure last, NaN, in order.
    let private rankAt
        (epoch: int)
        (configurations: int list)
        (members: (Trial * EpochMetrics list) list)
        : (int * float) list =
        let ranked =
            members
            |> Ranking.rank (fun (t, history) ->
                Some {
                    Configuration = t.Configuration
                    Seed = t.Seed
                    Validation = figureAt t.Settings.Keep epoch history
                })
            |> List.map (fun r -> r.Configuration, r.MeanValidation)

        ranked
        @ (configurations
           |> List.filter (fun c -> not (List.exists (fst >> (=) c) ranked))
           |> List.map (fun c -> c, nan))

    /// Replays the search over what the store knows (`progress` of a trial by key; None when the
    /// store does not have it) and says what it needs next.
    let plan (sweep: Sweep) (search: Search) (progress: string -> TrialProgress option) : Plan =
        let maxEpochs = sweep.Base.Epochs
        check maxEpochs search

        if sweep.Seeds.IsEmpty then
            invalidArg (nameof sweep) "a sweep needs at least one seed"

        let dataHash = Data.hash sweep.Data
        let sampling = Sampling(sweep, search)

        let trialsOf (configuration: int, c: Candidate) =
            sweep.Seeds
            |> List.map (fun seed ->
                let seeded = { c.Settings with Seed = seed }

                {
                    Configuration = configuration
                    Values = c.Values
                    Seed = seed
                    Settings = seeded
                    Key = Sweep.trialKey dataHash seeded
                })

        let stateOf (t: Trial) = progress t.Key |> Option.defaultValue TrialProgress.Waiting

        let historyOf (t: Trial) =
            match stateOf t with
            | TrialProgress.AtRung h
            | TrialProgress.Ended(_, h) -> h
            | TrialProgress.Waiting -> []
        // stopped at exactly this rung: a trial paused at a later rung has this one's epoch in its history too
        let atRung epoch (t: Trial) =
            match stateOf t with
            | TrialProgress.AtRung h -> h |> List.tryLast |> Option.exists (fun m -> m.Epoch = epoch)
            | TrialProgress.Waiting
            | TrialProgress.Ended _ -> false
        // Runs batch `batch`'s rungs from `rung` on; returns the step it needs, or the batch's observations once it is done.
        let rec rungs
            (rungEpochs: int list)
            (batchTrials: Trial list)
            batch
            rung
            (alive: (int * Candidate) list)
            decisions
            =
            let epoch = rungEpochs[rung]
            let last = rung = rungEpochs.Length - 1

            let members =
                batchTrials
                |> List.filter (fun t -> alive |> List.exists (fun (c, _) -> c = t.Configuration))

            let ready (t: Trial) =
                match stateOf t with
                | TrialProgress.Ended _ -> true
                | TrialProgress.AtRung h -> not last && h |> List.exists (fun m -> m.Epoch = epoch)
                | TrialProgress.Waiting -> false
            // ranked only once every member is at the rung: before, some have no figure there yet
            let ranked () =
                rankAt epoch (List.map fst alive) (members |> List.map (fun t -> t, historyOf t))

            if not (List.forall ready members) then
                Error(decisions, Step.Train)
            elif last then
                Ok(
                    decisions,
                    ranked ()
                    |> List.map (fun (c, score) -> c, snd (alive |> List.find (fst >> (=) c)), epoch, score)
                )
            else
                let ranked = ranked ()

                let promoted, pruned =
                    List.splitAt (Halving.survivors search.Pruning ranked.Length) ranked

                let decision =
                    Decision.Promote {
                        Batch = batch
                        Rung = rung
                        Epoch = epoch
                        Promoted = promoted
                        Pruned = pruned
                    }

                let goesOn c = promoted |> List.exists (fun (p, _) -> p = c)

                let until =
                    if rung + 1 = rungEpochs.Length - 1 then None else Some rungEpochs[rung + 1]

                let changes =
                    members
                    |> List.filter (atRung epoch)
                    |> List.map (fun t ->
                        if goesOn t.Configuration then
                            Change.Resume(t.Key, until)
                        else
                            Change.Prune t.Key)

                let decisions = decision :: decisions

                if not changes.IsEmpty then
                    Error(decisions, Step.Apply(decision, changes))
                else
                    match
                        rungs rungEpochs batchTrials batch (rung + 1) (alive |> List.filter (fst >> goesOn)) decisions
                    with
                    | Ok(decisions, survivors) ->
                        let prunedHere =
                            pruned
                            |> List.map (fun (c, score) ->
                                c, snd (alive |> List.find (fun (a, _) -> a = c)), epoch, score)

                        Ok(decisions, survivors @ prunedHere)
                    | Error e -> Error e

        let rec batches batch proposedSoFar (observed: Observation list) trials decisions =
            let finish trials decisions next = {
                Trials = List.rev trials |> List.concat
                Decisions = List.rev decisions
                Next = next
            }

            if proposedSoFar >= search.Configurations then
                finish trials decisions Step.Done
            else
                let rungEpochs, size =
                    Halving.ofBatch search.Pruning maxEpochs search.BatchSize batch

                let candidates, how =
                    sampling.Propose batch (min size (search.Configurations - proposedSoFar)) observed

                if candidates.IsEmpty then
                    finish trials decisions Step.Done
                else
                    let configurations = candidates |> List.mapi (fun i c -> proposedSoFar + i, c)
                    let batchTrials = configurations |> List.collect trialsOf

                    let proposal =
                        Decision.Propose {
                            Batch = batch
                            Rungs = rungEpochs
                            How = how
                            Configurations = configurations |> List.map (fun (i, c) -> i, c.Values)
                        }

                    let decisions = proposal :: decisions
                    let trials = batchTrials :: trials
                    let missing = batchTrials |> List.filter (fun t -> (progress t.Key).IsNone)

                    if not missing.IsEmpty then
                        let until = if rungEpochs.Length = 1 then None else Some rungEpochs[0]

                        finish
                            trials
                            decisions
                            (Step.Apply(proposal, missing |> List.map (fun t -> Change.Add(t, until))))
                    else
                        match rungs rungEpochs batchTrials batch 0 configurations decisions with
                        | Error(decisions, next) -> finish trials decisions next
                        | Ok(decisions, outcomes) ->
                            let seen =
                                outcomes
                                |> List.map (fun (c, candidate, epochs, score) -> {
                                    Point = candidate.Point
                                    Configuration = c
                                    Epochs = epochs
                                    Score = score
                                })

                            batches
                                (batch + 1)
                                (proposedSoFar + configurations.Length)
                                (observed @ seen)
                                trials
                                decisions

        batches 0 0 [] [] []
