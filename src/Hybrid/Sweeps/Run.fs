namespace Hybrid

open System
open System.Collections.Concurrent
open System.Diagnostics
open System.Threading
open Hybrid.Engine.Training

/// What a running trial tells the one thread that records: runs report, they never write.
type RunEvent =
    /// A trial starts, or resumes after the epoch of its checkpoint.
    | Started of Trial * resumedAfter: int option
    /// An epoch ended; the checkpoint is the trainer's own copy, encoded only if it is saved.
    | EpochDone of Trial * EpochMetrics * TrainingCheckpoint
    | Finished of TrialResult * Model option
    /// The trial reached the epoch it was to stop at (an adaptive search's rung), its checkpoint there.
    | Paused of Trial * TrainingCheckpoint

/// Running trials: one at a time, or many in parallel with their events funnelled to the caller.
[<RequireQualifiedAccess>]
module Run =

    /// The data a sweep trains on, preprocessed once: standardization fitted on the training part only.
    type Prepared = { Data: Data; Scaler: Scaler; Train: Dataset; Validation: Dataset }

    let prepare (data: Data) : Prepared =
        let scaler = Standardize.fit data.Split.Train

        {
            Data = data
            Scaler = scaler
            Train = Scaler.apply scaler data.Split.Train
            Validation = Scaler.apply scaler data.Split.Validation
        }

    let private outcome (trial: Trial) (model: Model) (result: TrainingResult) (data: Data) seconds =
        let kept = result.History |> Seq.tryFind (fun m -> m.Epoch = result.KeptEpoch)
        let testLoss, testAccuracy = Model.evaluate model data.Split.Test
        let diverged = result.Stop = StopReason.Diverged

        {
            Trial = trial
            Status = (if diverged then Diverged else Completed)
            Reason =
                (if diverged then
                     sprintf "the loss turned non-finite in epoch %d" result.StopEpoch
                 else
                     "")
            History = List.ofSeq result.History
            Stop = result.Stop
            KeptEpoch = result.KeptEpoch
            ValidationLoss =
                kept
                |> Option.bind (fun m -> Option.ofNullable m.ValidationLoss)
                |> Option.defaultValue nan
            ValidationAccuracy =
                kept
                |> Option.bind (fun m -> Option.ofNullable m.ValidationAccuracy)
                |> Option.defaultValue nan
            TestLoss = testLoss
            TestAccuracy = testAccuracy
            Seconds = seconds
        }

    let private failed (trial: Trial) (e: exn) seconds = {
        Trial = trial
        Status = Failed
        Reason = e.Message
        History = []
        Stop = StopReason.Completed
        KeptEpoch = 0
        ValidationLoss = nan
        ValidationAccuracy = nan
        TestLoss = nan
        TestAccuracy = nan
        Seconds = seconds
    }

    /// Stops the trainer at the end of the epoch a trial was to stop at, with the checkpoint there.
    exception private UntilReached of TrainingCheckpoint

    /// Runs one trial to its end, or to the end of epoch `until` if it gets there first (the trainer
    /// runs with the settings' own Epochs, so schedules and patience are those of the full run and
    /// the epochs so far an exact prefix of it), reporting each epoch; a trial that throws is
    /// reported as failed with its reason.
    let trial
        (prepared: Prepared)
        (report: RunEvent -> unit)
        (resume: TrainingCheckpoint option)
        (until: int option)
        (t: Trial)
        =
        let watch = Stopwatch.StartNew()
        report (Started(t, resume |> Option.map _.Epoch))

        let onEpoch =
            Action<EpochMetrics, TrainingCheckpoint>(fun m c ->
                report (EpochDone(t, m, c))

                if until = Some m.Epoch then
                    raise (UntilReached c))

        match resume, until with
        | Some checkpoint, Some epoch when checkpoint.Epoch >= epoch ->
            // Cut off after its rung's last epoch but before it paused: it pauses now, trains nothing.
            report (Paused(t, checkpoint))
        | _ ->
            try
                let model, result =
                    Model.train t.Settings prepared.Scaler prepared.Train prepared.Validation onEpoch resume

                report (Finished(outcome t model result prepared.Data watch.Elapsed.TotalSeconds, Some model))
            with
            | UntilReached checkpoint -> report (Paused(t, checkpoint))
            | e -> report (Finished(failed t e watch.Elapsed.TotalSeconds, None))

    /// How many trials to run at once: every core busy, counting the engine's own threads per trial.
    let workers (threadsPerTrial: int) = max 1 (Environment.ProcessorCount / max 1 threadsPerTrial)

    /// A trial to run, the checkpoint it resumes from, and the epoch it stops at (None: its end).
    type Job = Trial * TrainingCheckpoint option * int option

    /// Runs jobs on `workers` threads, each taking its next job from `next` (which may block, and
    /// returns None when the thread should end). Every event is handed to `handle` on the calling
    /// thread, one at a time, so whatever it writes (a database, the console) has a single writer. A
    /// trial for which `abandoned` turns true stops at its next epoch (another worker took it over).
    /// If `handle` or `next` throws, no new trial starts, running ones stop at their next epoch, and
    /// the error is rethrown once every worker has ended.
    let inParallel
        (workers: int)
        (prepared: Prepared)
        (next: unit -> Job option)
        (abandoned: Trial -> bool)
        (handle: RunEvent -> unit)
        =
        use events = new BlockingCollection<RunEvent>()
        use stopping = new CancellationTokenSource()
        let mutable error = None

        let fail (e: exn) =
            lock stopping (fun () ->
                if error.IsNone then
                    error <- Some(Runtime.ExceptionServices.ExceptionDispatchInfo.Capture e))

            stopping.Cancel()
        // Once stopping, events are dropped, and an epoch's report aborts its trial (caught in `trial`).
        let post e =
            match e with
            | EpochDone(t, _, _) when stopping.IsCancellationRequested || abandoned t ->
                raise (OperationCanceledException())
            | _ when stopping.IsCancellationRequested -> ()
            | _ -> events.Add e

        let rec work () =
            if not stopping.IsCancellationRequested then
                match
                    (try
                        next ()
                     with e ->
                         fail e
                         None)
                with
                | Some(t, resume, until) ->
                    trial prepared post resume until t
                    work ()
                | None -> ()

        let threads =
            List.init (max 1 workers) (fun i -> Thread(work, IsBackground = true, Name = sprintf "hybrid-trial-%d" i))

        threads |> List.iter _.Start()

        let finisher =
            Thread(
                (fun () ->
                    threads |> List.iter _.Join()
                    events.CompleteAdding()),
                IsBackground = true
            )

        finisher.Start()

        for e in events.GetConsumingEnumerable() do
            if not stopping.IsCancellationRequested then
                try
                    handle e
                with ex ->
                    fail ex

        error |> Option.iter _.Throw()
