namespace Hybrid

open System
open System.IO
open Hybrid.Engine.Training

/// The best configuration of a sweep: the highest mean validation accuracy over its seeds.
type Best =
    { Configuration: int
      Values: (string * string) list
      ValidationAccuracy: Summary
      TestAccuracy: Summary
      /// The configuration's best trial, whose model is saved as best/model.safetensors.
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

    let private modelPath directory (key: string) = Path.Combine(directory, "trials", key + ".safetensors")

    /// Records one run event: the only writer of the store.
    let private record (store: Store) directory (e: RunEvent) =
        match e with
        | Started t -> Store.markRunning store t.Key
        | EpochDone(t, metrics, checkpoint) -> Store.recordEpochWithCheckpoint store t.Key metrics checkpoint
        | Finished(result, model) ->
            let path =
                model
                |> Option.map (fun m ->
                    let path = modelPath directory result.Trial.Key
                    ModelFile.save path m
                    path)
            Store.finish store result path

    let private jobs (store: Store) (sweep: Sweep) (trials: Trial list) =
        let finished = Store.completedKeys store sweep.Name
        trials
        |> List.filter (fun t -> not (finished.Contains t.Key))
        |> List.map (fun t ->
            let resume = Store.latestCheckpoint store t.Key |> Option.map (fun (_, bytes) -> Run.decodeCheckpoint (sprintf "%s, trial %s checkpoint" store.File t.Key) bytes)
            t, resume)

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

    /// Writes report.html, report.md, trials.csv and best/model.safetensors from what the store holds.
    let private writeReport (store: Store) (sweep: Sweep) directory =
        let trials = Store.results store sweep.Name |> current sweep
        let best = best trials
        let bestModel = best |> Option.bind (fun b -> b.Trial.ModelPath) |> Option.map ModelFile.load
        bestModel |> Option.iter (ModelFile.save (Path.Combine(directory, "best", "model.safetensors")))
        let input = ReportInput.ofStore sweep (Store.manifest store sweep.Name) trials (Store.verifications store sweep.Name) (bestModel |> Option.map (fun m -> confusion m sweep.Data.Split.Test))
        trials, best, Report.write directory input

    type Sweep with

        /// Runs every trial the store has not finished (a trial cut off mid-run continues from its
        /// last epoch's checkpoint), trials in parallel on every core, then writes the report.
        static member run(sweep: Sweep) : SweepOutcome =
            let directory = directoryOf sweep.Name
            Files.requireWritable directory
            Files.removeStaleTemporariesUnder directory
            let trials = Sweep.expand sweep
            use store = Store.openAt (Path.Combine(directory, "sweep.db"))
            Store.register store sweep (Manifest.collect sweep.Data) |> ignore
            Store.addTrials store sweep.Name trials
            let todo = jobs store sweep trials
            let prepared = Run.prepare sweep.Data
            let tally =
                Progress.show trials.Length (trials.Length - todo.Length) (fun show ->
                    Run.inParallel (Run.workers sweep.Base.Threads) prepared todo (fun e ->
                        record store directory e
                        show e))
            let stored, best, report = writeReport store sweep directory
            { Directory = directory; Database = store.File; Trials = stored; Tally = tally; Best = best; Report = report }

        /// Re-runs the `count` best finished trials from their stored records alone and checks that
        /// weights and every epoch's metrics come out bit-identical; records the verdicts and rewrites the report.
        static member verify (count: int) (sweep: Sweep) : Verification list =
            let directory = directoryOf sweep.Name
            use store = Store.openAt (Path.Combine(directory, "sweep.db"))
            Verify.check store sweep count |> ignore
            writeReport store sweep directory |> ignore
            Store.verifications store sweep.Name
