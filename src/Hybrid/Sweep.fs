namespace Hybrid

open System
open System.Collections.Concurrent
open System.IO
open Hybrid.Engine.Training

/// The best configuration of a sweep: the highest mean validation accuracy over its seeds.
type Best =
    { Configuration: int
      Values: (string * string) list
      ValidationAccuracy: Summary
      TestAccuracy: Summary
      /// The configuration's best trial, whose model is saved as best/model.safetensors and best/model.onnx.
      Trial: StoredTrial }

/// What `Sweep.run` leaves behind.
type SweepOutcome =
    { Directory: string
      Database: string
      Trials: StoredTrial list
      Tally: Tally
      Best: Best option
      Report: ReportPaths }

/// Running a sweep end to end — store, resume, parallel trials, report — and proving its results reproduce.
[<AutoOpen>]
module SweepRunner =

    /// Where sweeps live: `runs/` under the current directory, or the HYBRID_RUNS environment variable.
    let runsRoot () =
        match Environment.GetEnvironmentVariable "HYBRID_RUNS" with
        | null | "" -> Path.Combine(Environment.CurrentDirectory, "runs")
        | root -> Path.GetFullPath root

    /// A sweep's folder. Its name becomes a directory, so it may not climb out of the runs folder.
    let directoryOf (name: string) =
        let allowed (c: char) = Char.IsLetterOrDigit c || c = '-' || c = '_' || c = '.' || c = ' '
        if String.IsNullOrWhiteSpace name || name.StartsWith '.' || name.Length > 100 || not (String.forall allowed name) then
            invalidArg (nameof name) (sprintf "sweep name %A: expected 1 to 100 letters, digits, spaces, '-', '_' or '.', not starting with '.'" name)
        Path.Combine(runsRoot (), name)

    let private current (sweep: Sweep) (trials: StoredTrial list) =
        let hash = Sweep.definitionHash sweep
        trials |> List.filter (fun t -> t.DefinitionHash = hash)

    /// Where a sweep's results are kept: the HYBRID_STORE environment variable (a PostgreSQL connection
    /// string shared by workers on several machines, or a SQLite file), else `<sweep folder>/sweep.db`.
    let storeFor (sweep: Sweep) =
        match Environment.GetEnvironmentVariable "HYBRID_STORE" with
        | null | "" -> Path.Combine(directoryOf sweep.Name, "sweep.db")
        | location -> location

    /// A duration in seconds from an environment variable, or the fallback when it is unset or not valid.
    let private seconds (variable: string) (valid: float -> bool) (fallback: float) =
        match Double.TryParse(Environment.GetEnvironmentVariable variable, Globalization.NumberStyles.Float, Globalization.CultureInfo.InvariantCulture) with
        | true, s when valid s -> TimeSpan.FromSeconds s
        | _ -> TimeSpan.FromSeconds fallback

    /// How long a claimed trial's heartbeat may stay silent before other workers take it over (its
    /// worker presumed dead): HYBRID_GRACE_SECONDS, or 60. Heartbeats go out six times per grace period.
    let private grace () = seconds "HYBRID_GRACE_SECONDS" (fun s -> s > 0.0) 60.0

    /// This process's claims on running trials, and which of them another worker has taken over.
    type private Claims() =
        let held = ConcurrentDictionary<string, Claim>()
        let lost = ConcurrentDictionary<string, bool>()
        member _.Add(claim: Claim) = held[claim.Key] <- claim
        member _.TryGet(key: string) =
            match held.TryGetValue key with
            | true, claim -> Some claim
            | _ -> None
        member _.Remove(key: string) =
            held.TryRemove key |> ignore
            lost.TryRemove key |> ignore
        member _.Lose(key: string) = lost[key] <- true
        member _.IsLost(key: string) = lost.ContainsKey key
        member _.All = List.ofSeq held.Values
        member _.Count = held.Count

    /// A checkpoint that no longer decodes is not loaded: the trial starts over, to the same bits.
    let private resumeFrom (claim: Claim) =
        claim.Checkpoint
        |> Option.bind (fun (_, bytes) ->
            try Some(Run.decodeCheckpoint (sprintf "checkpoint of trial %s" claim.Key) bytes)
            with :? InvalidFileException as e ->
                eprintfn "%s; the trial starts over" e.Message
                None)

    /// The next trial for one of this process's workers. When nothing is claimable but trials run
    /// elsewhere, waits: their workers may die, and someone must take their trials over.
    let rec private nextJob (store: Store) (sweep: Sweep) (trials: Map<string, Trial>) (claims: Claims) () : Run.Job option =
        match Store.claimNext store sweep.Name Worker.current (grace ()) with
        | Some claim ->
            claims.Add claim
            match trials.TryFind claim.Key with
            | Some trial -> Some(trial, resumeFrom claim)
            | None -> raise (StoreException(store.Location, sprintf "trial %s of sweep '%s' is not in this script's expansion of it" claim.Key sweep.Name))
        | None ->
            let counts = Store.counts store sweep.Name
            if counts.Pending = 0 && counts.Running <= claims.Count then None
            else
                Threading.Thread.Sleep(min (grace () / 6.0) (TimeSpan.FromSeconds 2.0))
                nextJob store sweep trials claims ()

    /// How often a running trial saves a checkpoint: at the first epoch that ends this long after
    /// its last one (HYBRID_CHECKPOINT_SECONDS, default 5; 0 saves after every epoch). A checkpoint
    /// carries the epochs since the previous one, so a trial shorter than this writes only once it
    /// finishes. Determinism makes the choice invisible in the results: a trial cut off resumes from
    /// its last checkpoint, or starts over, and ends with the same bits either way.
    let private checkpointEvery () = seconds "HYBRID_CHECKPOINT_SECONDS" (fun s -> s >= 0.0) 5.0

    /// Records run events: the only writer of results. A worker that lost its claim records nothing
    /// more, nor does a second run of a trial this process has already finished.
    type private Recorder(store: Store, claims: Claims, every: TimeSpan) =
        let unsaved = Collections.Generic.Dictionary<string, Diagnostics.Stopwatch * EpochMetrics list>()

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
                        if not (Store.recordEpochsWithCheckpoint store claim (List.rev epochs) (Run.encodeCheckpoint checkpoint)) then claims.Lose t.Key)
                    unsaved[t.Key] <- (Diagnostics.Stopwatch.StartNew(), [])
            | Finished(result, model) ->
                unsaved.Remove result.Trial.Key |> ignore
                claims.TryGet result.Trial.Key
                |> Option.iter (fun claim ->
                    Store.finish store claim result (model |> Option.map ModelFile.toBytes) |> ignore
                    claims.Remove result.Trial.Key)

    /// Beats for this process's claims until disposed, marking those another worker took over.
    let private heartbeats (store: Store) (claims: Claims) =
        let interval = grace () / 6.0
        let beat _ =
            // A failed beat is not fatal here: the next write of the recording thread meets the same
            // failure, retries it, and reports it if it lasts.
            try Store.heartbeat store claims.All |> List.iter (fun c -> claims.Lose c.Key)
            with :? StoreException | :? Data.Common.DbException -> ()
        new Threading.Timer(beat, null, interval, interval)

    /// The configuration with the highest mean validation accuracy over its completed seeds.
    let best (trials: StoredTrial list) : Best option =
        trials
        |> List.filter (fun t -> t.State = TrialState.Finished Completed && t.ValidationAccuracy.IsSome)
        |> List.groupBy _.Configuration
        |> List.map (fun (configuration, group) ->
            let top = group |> List.maxBy (fun t -> t.ValidationAccuracy.Value)
            { Configuration = configuration
              Values = top.Values
              ValidationAccuracy = group |> List.map (fun t -> t.ValidationAccuracy.Value) |> Statistics.summarize
              TestAccuracy = group |> List.choose _.TestAccuracy |> Statistics.summarize
              Trial = top })
        |> List.sortByDescending (fun b -> b.ValidationAccuracy.Mean, -b.Configuration)
        |> List.tryHead

    let private confusion (model: Model) (test: Dataset) =
        let matrix = Array2D.zeroCreate test.ClassNames.Length test.ClassNames.Length
        Model.predict model test |> Array.iteri (fun i predicted -> matrix[test.Labels[i], predicted] <- matrix[test.Labels[i], predicted] + 1)
        matrix

    /// Writes report.html, report.md, report.tex, trials.csv, best/model.safetensors and best/model.onnx
    /// from what the store holds.
    let private writeReport (store: Store) (sweep: Sweep) directory =
        let trials = Store.results store sweep.Name |> current sweep
        let best = best trials
        let bestModel =
            best
            |> Option.bind (fun b -> Store.model store b.Trial.Key |> Option.map (ModelFile.ofBytes (sprintf "%s, model of trial %s" store.Location b.Trial.Key)))
        bestModel
        |> Option.iter (fun model ->
            ModelFile.save (Path.Combine(directory, "best", "model.safetensors")) model
            ModelFile.exportOnnx (Path.Combine(directory, "best", "model.onnx")) model)
        let input = ReportInput.ofStore sweep (Store.manifest store sweep.Name) trials (Store.verifications store sweep.Name) (bestModel |> Option.map (fun m -> confusion m sweep.Data.Split.Test))
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
            let trials = Sweep.expand sweep
            use store = Store.connect location
            Store.register store sweep (Manifest.collect sweep.Data) |> ignore
            Store.addTrials store sweep.Name trials
            let claims = Claims()
            let recorder = Recorder(store, claims, checkpointEvery ())
            let prepared = Run.prepare sweep.Data
            let byKey = trials |> List.map (fun t -> t.Key, t) |> Map.ofList
            let tally =
                use _ = heartbeats store claims
                Progress.show trials.Length (Store.counts store sweep.Name).Finished (fun show ->
                    Run.inParallel (Run.workers sweep.Base.Threads) prepared (nextJob store sweep byKey claims) (fun t -> claims.IsLost t.Key) (fun e ->
                        recorder.Record e
                        show e))
            let stored, best, report = writeReport store sweep directory
            { Directory = directory; Database = store.Location; Trials = stored; Tally = tally; Best = best; Report = report }

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
        static member verify (count: int) (sweep: Sweep) : Verification list =
            let directory = directoryOf sweep.Name
            use store = Store.connect (storeFor sweep)
            Verify.check store sweep count |> ignore
            writeReport store sweep directory |> ignore
            Store.verifications store sweep.Name
