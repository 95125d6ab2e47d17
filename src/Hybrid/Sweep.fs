namespace Hybrid

open System
open System.Collections.Concurrent
open System.IO
open Hybrid.Engine.Training

/// The best configuration of a sweep, by `Ranking`, with its figures over its completed seeds.
type Best = {
    Configuration: int
    Values: (Setting * Value) list
    ValidationAccuracy: Summary
    TestAccuracy: Summary
    /// The configuration's best trial, whose model is saved as best/model.safetensors and best/model.onnx.
    Trial: StoredTrial
}

[<RequireQualifiedAccess>]
module Best =

    /// What a script prints of a sweep's best configuration: its values, then its figures over its seeds.
    let describe (outcome: Best option) =
        match outcome with
        | Some best ->
            sprintf
                "best configuration #%d: %s\n  validation accuracy %s, test accuracy %s"
                best.Configuration
                (ReportFormat.settings best.Values)
                (ReportFormat.percent best.ValidationAccuracy)
                (ReportFormat.percent best.TestAccuracy)
        | None -> "no trial completed"

/// What `Sweep.run` leaves behind.
type SweepOutcome = {
    Directory: string
    Database: string
    Trials: StoredTrial list
    Tally: Tally
    Best: Best option
    Report: ReportPaths
}

/// Running a sweep end to end — store, resume, parallel trials, report — and proving its results reproduce.
[<AutoOpen>]
module SweepRunner =

    /// Where sweeps live: `runs/` under the current directory, or the HYBRID_RUNS environment variable.
    let runsRoot () =
        match Environment.GetEnvironmentVariable "HYBRID_RUNS" with
        | null
        | "" -> Path.Combine(Environment.CurrentDirectory, "runs")
        | root -> Path.GetFullPath root

    /// A sweep's folder. Its name becomes a directory, so it may not climb out of the runs folder.
    let directoryOf (name: string) =
        let allowed (c: char) = Char.IsLetterOrDigit c || c = '-' || c = '_' || c = '.' || c = ' '

        if
            String.IsNullOrWhiteSpace name
            || name.StartsWith '.'
            || name.Length > 100
            || not (String.forall allowed name)
        then
            invalidArg
                (nameof name)
                (sprintf
                    "sweep name %A: expected 1 to 100 letters, digits, spaces, '-', '_' or '.', not starting with '.'"
                    name)

        Path.Combine(runsRoot (), name)

    let private current (sweep: Sweep) (trials: StoredTrial list) =
        let hash = Sweep.definitionHash sweep
        trials |> List.filter (fun t -> t.DefinitionHash = hash)

    /// Where a sweep's results are kept: the HYBRID_STORE environment variable (a PostgreSQL connection
    /// string shared by workers on several machines, or a SQLite file), else `<sweep folder>/sweep.db`.
    let storeFor (sweep: Sweep) =
        match Environment.GetEnvironmentVariable "HYBRID_STORE" with
        | null
        | "" -> Path.Combine(directoryOf sweep.Name, "sweep.db")
        | location -> location

    /// A duration in seconds from an environment variable, or the fallback when it is unset or not valid.
    let private seconds (variable: string) (valid: float -> bool) (fallback: float) =
        match
            Double.TryParse(
                Environment.GetEnvironmentVariable variable,
                Globalization.NumberStyles.Float,
                Globalization.CultureInfo.InvariantCulture
            )
        with
        | true, s when valid s -> TimeSpan.FromSeconds s
        | _ -> TimeSpan.FromSeconds fallback

    /// How long a claimed trial's heartbeat may stay silent before other workers take it over (its
    /// worker presumed dead): HYBRID_GRACE_SECONDS, or 60. Heartbeats go out six times per grace period.
    let private grace () = seconds "HYBRID_GRACE_SECONDS" (fun s -> s > 0.0) 60.0

    /// This process's claims on running trials, and which of them another worker has taken over.
    /// Removing and losing name the claim, not only its trial: an adaptive search's trial paused at a
    /// rung is claimed again when it goes on, and a late word about its old claim (a heartbeat that
    /// found it paused, the recorder's removal) must not stop or forget the new one.
    type private Claims() =
        let held = ConcurrentDictionary<string, Claim>()
        let lost = ConcurrentDictionary<string, bool>()

        let isHeld (claim: Claim) =
            match held.TryGetValue claim.Key with
            | true, current -> current.Token = claim.Token
            | _ -> false

        member _.Add(claim: Claim) = lock held (fun () -> held[claim.Key] <- claim)

        member _.TryGet(key: string) =
            match held.TryGetValue key with
            | true, claim -> Some claim
            | _ -> None

        member _.Remove(claim: Claim) =
            lock held (fun () ->
                if isHeld claim then
                    held.TryRemove claim.Key |> ignore)

            lost.TryRemove claim.Token |> ignore

        member _.Lose(claim: Claim) =
            lock held (fun () ->
                if isHeld claim then
                    lost[claim.Token] <- true)

        member _.IsLost(key: string) =
            match held.TryGetValue key with
            | true, claim -> lost.ContainsKey claim.Token
            | _ -> false

        member _.All = List.ofSeq held.Values
        member _.Count = held.Count

    /// A checkpoint that no longer decodes is not loaded: the trial starts over, to the same bits.
    let private resumeFrom (claim: Claim) =
        claim.Checkpoint
        |> Option.bind (fun (_, bytes) ->
            try
                Some(Checkpoint.decode (sprintf "checkpoint of trial %s" claim.Key) bytes)
            with :? InvalidFileException as e ->
                eprintfn "%s; the trial starts over" e.Message
                None)

    /// How often a worker waiting at an adaptive search's barrier looks again.
    let private barrierPoll = TimeSpan.FromSeconds 0.2

    /// The trials this process knows by key: the sweep's expansion, or the trials an adaptive search
    /// has proposed so far (learnt again from the store when a worker claims one it has not seen).
    type private Known(store: Store, sweep: Sweep) =
        let mutable trials: Map<string, Trial> =
            match sweep.Strategy with
            | Strategy.Adaptive _ -> Map.empty
            | Strategy.Grid _
            | Strategy.Random _
            | Strategy.Sobol _ -> Sweep.expand sweep |> List.map (fun t -> t.Key, t) |> Map.ofList

        /// Makes the search's next decision if one is due (see `Store.advance`) and learns its trials.
        member _.Advance(search: Search) : Step =
            let plan = Store.advance store sweep search
            lock store (fun () -> trials <- plan.Trials |> List.map (fun t -> t.Key, t) |> Map.ofList)
            plan.Next

        member this.Find(key: string) : Trial option =
            match lock store (fun () -> trials.TryFind key), sweep.Strategy with
            | Some trial, _ -> Some trial
            | None, Strategy.Adaptive search ->
                this.Advance search |> ignore
                lock store (fun () -> trials.TryFind key)
            | None, _ -> None

    /// The next trial for one of this process's workers. When nothing is claimable but trials run
    /// elsewhere, waits: their workers may die, and someone must take their trials over. An adaptive
    /// search waits for its rung or batch to finish (a barrier: every trial of it at its rung or
    /// ended), then whichever worker comes first makes the decision that gives out more work.
    let rec private nextJob (store: Store) (sweep: Sweep) (known: Known) (claims: Claims) () : Run.Job option =
        let again (wait: TimeSpan) =
            Threading.Thread.Sleep wait
            nextJob store sweep known claims ()

        match Store.claimNext store sweep.Name Worker.current (grace ()) with
        | Some claim ->
            claims.Add claim

            match known.Find claim.Key with
            | Some trial -> Some(trial, resumeFrom claim, claim.Until)
            | None ->
                raise (
                    StoreException(
                        store.Location,
                        sprintf "trial %s of sweep '%s' is not in this script's expansion of it" claim.Key sweep.Name
                    )
                )
        | None ->
            let counts = Store.counts store sweep.Name

            match sweep.Strategy with
            | Strategy.Adaptive search when counts.Pending = 0 && counts.Running = 0 ->
                match known.Advance search with
                | Step.Apply _ -> nextJob store sweep known claims ()
                | Step.Done -> None
                | Step.Train -> again barrierPoll
            // the barrier is usually a trial's last epochs away
            | Strategy.Adaptive _ -> again barrierPoll
            | Strategy.Grid _
            | Strategy.Random _
            | Strategy.Sobol _ when counts.Pending = 0 && counts.Running <= claims.Count -> None
            | Strategy.Grid _
            | Strategy.Random _
            | Strategy.Sobol _ -> again (min (grace () / 6.0) (TimeSpan.FromSeconds 2.0))

    /// How often a running trial saves a checkpoint: at the first epoch that ends this long after
    /// its last one (HYBRID_CHECKPOINT_SECONDS, default 5; 0 saves after every epoch). A checkpoint
    /// carries the epochs since the previous one, so a trial shorter than this writes only once it
    /// finishes. Determinism makes the choice invisible in the results: a trial cut off resumes from
    /// its last checkpoint, or starts over, and ends with the same bits either way.
    let private checkpointEvery () = seconds "HYBRID_CHECKPOINT_SECONDS" (fun s -> s >= 0.0) 5.0

    /// Records run events: the only writer of results. A worker that lost its claim records nothing
    /// more, nor does a second run of a trial this process has already finished.
    type private Recorder(store: Store, claims: Claims, every: TimeSpan) =
        let unsaved =
            Collections.Generic.Dictionary<string, Diagnostics.Stopwatch * EpochMetrics list>()

        member _.Record(e: RunEvent) =
            match e with
            | Started(t, _) -> unsaved[t.Key] <- (Diagnostics.Stopwatch.StartNew(), [])
            | EpochDone(t, metrics, checkpoint) ->
                let since, epochs = unsaved[t.Key]
                let epochs = metrics :: epochs
                unsaved[t.Key] <- (since, epochs)

                if since.Elapsed >= every then
                    claims.TryGet t.Key
                    |> Option.iter (fun claim ->
                        if
                            not (
                                Store.recordEpochsWithCheckpoint
                                    store
                                    claim
                                    (List.rev epochs)
                                    (Checkpoint.encode checkpoint)
                            )
                        then
                            claims.Lose claim)

                    unsaved[t.Key] <- (Diagnostics.Stopwatch.StartNew(), [])
            | Paused(t, checkpoint) ->
                let _, epochs = unsaved[t.Key]
                unsaved.Remove t.Key |> ignore

                claims.TryGet t.Key
                |> Option.iter (fun claim ->
                    let kept =
                        checkpoint.KeptEpoch,
                        checkpoint.BestValidationLoss,
                        Search.figureAt t.Settings.Keep checkpoint.Epoch (List.ofSeq checkpoint.History)

                    Store.pause store claim (List.rev epochs) checkpoint.Epoch (Checkpoint.encode checkpoint) kept
                    |> ignore

                    claims.Remove claim)
            | Finished(result, model) ->
                unsaved.Remove result.Trial.Key |> ignore

                claims.TryGet result.Trial.Key
                |> Option.iter (fun claim ->
                    Store.finish store claim result (model |> Option.map ModelFile.toBytes)
                    |> ignore

                    claims.Remove claim)

    /// Beats for this process's claims until disposed, marking those another worker took over.
    let private heartbeats (store: Store) (claims: Claims) =
        let interval = grace () / 6.0

        let beat _ =
            // A failed beat is not fatal here: the next write of the recording thread meets the same
            // failure, retries it, and reports it if it lasts.
            try
                Store.heartbeat store claims.All |> List.iter claims.Lose
            with
            | :? StoreException
            | :? Data.Common.DbException -> ()

        new Threading.Timer(beat, null, interval, interval)

    /// The first configuration of the ranking (see `Ranking`), if any trial completed.
    let best (trials: StoredTrial list) : Best option =
        Ranking.best StoredTrial.rankEntry trials
        |> Option.map (fun r ->
            let top = r.Completed |> List.maxBy (fun t -> t.ValidationAccuracy.Value)

            {
                Configuration = r.Configuration
                Values = top.Values
                ValidationAccuracy = r.Completed |> List.choose _.ValidationAccuracy |> Statistics.summarize
                TestAccuracy = r.Completed |> List.choose _.TestAccuracy |> Statistics.summarize
                Trial = top
            })

    let private confusion (model: Model) (test: Dataset) =
        let matrix = Array2D.zeroCreate test.ClassNames.Length test.ClassNames.Length

        Model.predict model test
        |> Array.iteri (fun i predicted -> matrix[test.Labels[i], predicted] <- matrix[test.Labels[i], predicted] + 1)

        matrix

    /// Writes report.html, report.md, report.tex, trials.csv, best/model.safetensors and best/model.onnx
    /// from what the store holds.
    let private writeReport (store: Store) (sweep: Sweep) directory =
        let trials = Store.results store sweep.Name |> current sweep
        let best = best trials

        let bestModel =
            best
            |> Option.bind (fun b ->
                Store.model store b.Trial.Key
                |> Option.map (ModelFile.ofBytes (sprintf "%s, model of trial %s" store.Location b.Trial.Key)))

        bestModel
        |> Option.iter (fun model ->
            ModelFile.save (Path.Combine(directory, "best", "model.safetensors")) model
            ModelFile.exportOnnx (Path.Combine(directory, "best", "model.onnx")) model)

        let input =
            ReportInput.ofStore
                sweep
                (Store.manifest store sweep.Name)
                trials
                (Store.verifications store sweep.Name)
                (Store.decisions store sweep.Name)
                (bestModel |> Option.map (fun m -> confusion m sweep.Data.Split.Test))

        trials, best, Report.write directory input

    type Sweep with

        /// Runs the sweep's trials that no worker has finished, with the store at `location` (see
        /// `Store.connect`): trials in parallel on every core, a trial cut off mid-run continuing from
        /// its last checkpoint. Several processes, on one machine or many, may run the same
        /// sweep on one store: they share its trials and take over those of a worker that died. Then
        /// writes the report from everything the store holds.
        static member runOn (location: string) (sweep: Sweep) : SweepOutcome =
            let directory = directoryOf sweep.Name
            Files.requireWritable directory
            Files.removeStaleTemporariesUnder directory
            use store = Store.connect location
            Store.register store sweep (Manifest.collect sweep.Data) |> ignore
            let known = Known(store, sweep)

            match sweep.Strategy with
            | Strategy.Adaptive search -> Search.check sweep.Base.Epochs search
            | Strategy.Grid _
            | Strategy.Random _
            | Strategy.Sobol _ -> Store.addTrials store sweep.Name (Sweep.expand sweep)

            let claims = Claims()
            let recorder = Recorder(store, claims, checkpointEvery ())
            let prepared = Run.prepare sweep.Data

            let tally =
                use _ = heartbeats store claims

                let stored = Store.results store sweep.Name |> current sweep
                let earlier = stored |> List.choose StoredTrial.rankEntry

                let budget =
                    match sweep.Strategy with
                    | Strategy.Adaptive search ->
                        let before = stored |> List.sumBy _.History.Length
                        Budget.Epochs(before, Search.epochBudget sweep.Base.Epochs search sweep.Seeds.Length)
                    | Strategy.Grid _
                    | Strategy.Random _
                    | Strategy.Sobol _ -> Budget.Trials(Sweep.count sweep)

                Progress.show budget (Store.counts store sweep.Name).Finished earlier (fun show ->
                    Run.inParallel
                        (Run.workers sweep.Base.Threads)
                        prepared
                        (nextJob store sweep known claims)
                        (fun t -> claims.IsLost t.Key)
                        (fun e ->
                            recorder.Record e
                            show e))

            let stored, best, report = writeReport store sweep directory

            {
                Directory = directory
                Database = store.Location
                Trials = stored
                Tally = tally
                Best = best
                Report = report
            }

        /// Runs the sweep with its store where `Sweep.storeFor` says (HYBRID_STORE, or the sweep's folder).
        static member run(sweep: Sweep) : SweepOutcome = Sweep.runOn (storeFor sweep) sweep

        /// Writes the report (HTML, Markdown, LaTeX) and the best model from the store at
        /// `location` alone, at any time: while workers still run the sweep, it shows how far they are.
        static member reportOn (location: string) (sweep: Sweep) : ReportPaths =
            use store = Store.connect location
            let _, _, report = writeReport store sweep (directoryOf sweep.Name)
            report

        /// Writes the sweep's report from its store where `Sweep.storeFor` says.
        static member report(sweep: Sweep) : ReportPaths = Sweep.reportOn (storeFor sweep) sweep

        /// Re-runs the `count` best finished trials from their stored records alone and checks that
        /// weights and every epoch's metrics come out bit-identical; records the verdicts and rewrites the report.
        /// Re-derives an adaptive search's proposals and promotions from its stored results alone and
        /// checks them against the recorded decisions: (whether all agree, what was compared or what differed).
        static member verifyDecisions(sweep: Sweep) : bool * string =
            use store = Store.connect (storeFor sweep)
            Verify.decisions store sweep

        static member verify (count: int) (sweep: Sweep) : Verification list =
            let directory = directoryOf sweep.Name
            use store = Store.connect (storeFor sweep)
            Verify.check store sweep count |> ignore
            writeReport store sweep directory |> ignore
            Store.verifications store sweep.Name
