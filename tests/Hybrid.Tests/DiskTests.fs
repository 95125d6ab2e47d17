/// Disk faults: a full disk (a small tmpfs filled up) and a read-only folder (a read-only bind mount:
/// tests run as root, whom chmod does not stop). Every refused write must raise a FileWriteException
/// naming the file and the problem, leave what was there before, and leave no temporary file behind.
/// Also the clean-up of temporary files left by writers that died.
module Hybrid.Tests.DiskTests

open System
open System.Diagnostics
open System.IO
open Expecto
open Microsoft.Data.Sqlite
open Hybrid
open Hybrid.Engine.Model

let private run (file: string) (arguments: string list) (environment: (string * string) list) =
    let info =
        ProcessStartInfo(file, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false)

    arguments |> List.iter info.ArgumentList.Add

    for key, value in environment do
        info.Environment[key] <- value

    use p = Process.Start info |> nonNull

    let output, error =
        p.StandardOutput.ReadToEndAsync(), p.StandardError.ReadToEndAsync()

    p.WaitForExit()
    p.ExitCode, output.Result + error.Result

let private freshFolder prefix =
    let path = Path.Combine(Path.GetTempPath(), prefix + Guid.NewGuid().ToString "N")
    Directory.CreateDirectory path |> ignore
    path

/// Mounts with `arguments` (the mount point last) around `body`; skips the test where mounting is not
/// permitted (not root, or a container without CAP_SYS_ADMIN). CI runs as root, so there it runs.
let private withMount (steps: string -> string list list) (body: string -> unit) =
    let point = freshFolder "hybrid-mount-"

    try
        let failures =
            steps point
            |> List.map (fun step -> run "mount" step [])
            |> List.filter (fun (code, _) -> code <> 0)

        match failures with
        | (_, message) :: _ ->
            run "umount" [ point ] [] |> ignore

            skiptest (
                sprintf
                    "mounting is not permitted here (%s); needs root with CAP_SYS_ADMIN; disk-fault test skipped"
                    (message.Trim())
            )
        | [] ->
            try
                body point
            finally
                run "umount" [ point ] [] |> ignore
    finally
        Directory.Delete(point, true)

/// A tmpfs of `kilobytes`: a disk that fills up.
let private withSmallDisk (kilobytes: int) body =
    withMount (fun point -> [ [ "-t"; "tmpfs"; "-o"; sprintf "size=%dk" kilobytes; "tmpfs"; point ] ]) body

/// `source` seen read-only at the mount point.
let private withReadOnlyView (source: string) body =
    withMount (fun point -> [ [ "--bind"; source; point ]; [ "-o"; "remount,bind,ro"; point ] ]) body

/// Fills the disk holding `folder` until the system refuses, then frees `room` bytes again.
let private fill (folder: string) (room: int64) =
    let filler = Path.Combine(folder, "filler")

    do
        use stream =
            new FileStream(filler, FileMode.Create, FileAccess.Write, FileShare.None, 1)

        let chunk = Array.zeroCreate<byte> 4096

        try
            while true do
                stream.Write(chunk, 0, chunk.Length)
        with :? IOException ->
            ()

    if room > 0L then
        use stream = new FileStream(filler, FileMode.Open)
        stream.SetLength(max 0L (stream.Length - room))

    filler

let private model (seed: int) : Model =
    let shape = NetworkShape(4, 8, 8, 3, SkipKind.Dense)

    {
        Shape = shape
        Parameters = Array.init (ParameterLayout(shape).Count) (fun i -> float32 ((i * seed) % 17) / 17.0f)
        ClassNames = [| "a"; "b"; "c" |]
        Preprocessing = None
        Seed = uint64 seed
        Optimizer = "Adam"
        Epoch = seed
    }

let private temporaries (folder: string) =
    Directory.GetFiles(folder, "*.tmp", SearchOption.AllDirectories)
    |> Array.map Path.GetFileName

/// The write must fail with a FileWriteException naming `file` and saying `problem`.
let private refusedWrite (file: string) (problem: string) (write: unit -> unit) =
    let e: FileWriteException = Common.raised write
    Expect.equal e.File file "names the file"
    Expect.stringContains e.Message file "the message names the file"
    Expect.stringContains e.Problem problem "says what is wrong"

let private fullDiskTests =
    testList "full disk" [
        testCase "saving a model: FileWriteException naming the file; the old model stays, no temporary file"
        <| fun () ->
            withSmallDisk 256 (fun disk ->
                let path = Path.Combine(disk, "model.safetensors")
                ModelFile.save path (model 1)
                fill disk 0L |> ignore
                refusedWrite path "the disk is full" (fun () -> ModelFile.save path (model 2))
                Expect.equal (ModelFile.load path).Parameters (model 1).Parameters "the earlier model is intact"
                Expect.isEmpty (temporaries disk) "the failed write removed its temporary file")
        testCase "writing a report: FileWriteException naming the file; the earlier report stays"
        <| fun () ->
            withSmallDisk 16384 (fun disk ->
                let folder = Path.Combine(disk, "report")
                let paths = Report.write folder (ReportTests.sample "first")
                let before = [ paths.Csv; paths.Markdown; paths.Html ] |> List.map File.ReadAllBytes
                fill disk 0L |> ignore

                refusedWrite paths.Csv "the disk is full" (fun () ->
                    Report.write folder (ReportTests.sample "second") |> ignore)

                Expect.equal
                    ([ paths.Csv; paths.Markdown; paths.Html ] |> List.map File.ReadAllBytes)
                    before
                    "every earlier file is intact"

                Expect.isEmpty (temporaries disk) "no temporary file")
    ]

let private readOnlyTests =
    testList "read-only folder" [
        testCase "saving a model: FileWriteException naming the file; the old model stays"
        <| fun () ->
            let source = freshFolder "hybrid-ro-"

            try
                ModelFile.save (Path.Combine(source, "model.safetensors")) (model 1)

                withReadOnlyView source (fun view ->
                    let path = Path.Combine(view, "model.safetensors")
                    refusedWrite path "read-only" (fun () -> ModelFile.save path (model 2))
                    Expect.equal (ModelFile.load path).Parameters (model 1).Parameters "the earlier model is intact")
            finally
                Directory.Delete(source, true)
        testCase "writing a report: FileWriteException naming the file; the earlier report stays"
        <| fun () ->
            let source = freshFolder "hybrid-ro-"

            try
                let first = Report.write source (ReportTests.sample "first")
                let before = File.ReadAllBytes first.Html

                withReadOnlyView source (fun view ->
                    refusedWrite (Path.Combine(view, "trials.csv")) "read-only" (fun () ->
                        Report.write view (ReportTests.sample "second") |> ignore)

                    Expect.equal
                        (File.ReadAllBytes(Path.Combine(view, "report.html")))
                        before
                        "the earlier report is intact")
            finally
                Directory.Delete(source, true)
    ]

/// The sweep the child runs: iris, two widths, `seeds` seeds, a few epochs.
let private small (seeds: int) : Sweep = {
    Sweep.create "disk" {
        Name = "iris"
        Split =
            Dataset.iris ()
            |> Dataset.split { Train = 0.6; Validation = 0.2; Test = 0.2 } 7UL
    } with
        Base = { Settings.defaults with Epochs = 30; Patience = None }
        Space = [ M, ints [ 8; 16 ] ]
        Strategy = Strategy.Grid 1
        Seeds = List.init seeds uint64
}

/// Exit code of a child whose sweep the disk refused; anything else unexpected escapes as a crash.
let private refusedExit = 3

/// The child process's work (`--disk-child ROOT SEEDS`): the small sweep, its runs folder at ROOT.
let child (root: string) (seeds: string) : int =
    Environment.SetEnvironmentVariable("HYBRID_RUNS", root)

    try
        Sweep.run (small (int seeds)) |> ignore
        0
    with :? FileWriteException as e ->
        eprintfn "%s" e.Message
        refusedExit

/// Runs the small sweep in a child process: HYBRID_RUNS is process-wide, so tests running in
/// parallel must not set it in this one.
let private sweepAt (root: string) (seeds: int) =
    run "dotnet" [
        Reflection.Assembly.GetExecutingAssembly().Location
        "--disk-child"
        root
        string seeds
    ] []

let private scalar (database: string) (sql: string) =
    use connection =
        new SqliteConnection(sprintf "Data Source=%s;Mode=ReadOnly;Pooling=False" database)

    connection.Open()
    use command = connection.CreateCommand()
    command.CommandText <- sql
    string (command.ExecuteScalar())

/// Each finished trial's key and final figures: what must survive a refused sweep unchanged.
let private finished database =
    scalar
        database
        "SELECT group_concat(key || ':' || validation_accuracy || ':' || test_loss, ' ') FROM (SELECT * FROM trials WHERE status = 'completed' ORDER BY key)"

let private expectRefused (code: int, output: string) (root: string) (problem: string) =
    Expect.equal code refusedExit (sprintf "the sweep stopped with a FileWriteException, not a crash:\n%s" output)
    Expect.stringContains output root "the message names the file"
    Expect.stringContains output problem "and the problem"

let private sweepTests =
    testList "sweep" [
        testCase
            "on a nearly full disk it stops with a clear error, keeps every finished trial, and finishes once there is room"
        <| fun () ->
            withSmallDisk 16384 (fun root ->
                let first = sweepAt root 1
                Expect.equal (fst first) 0 (sprintf "the first sweep ran:\n%s" (snd first))
                let database = Path.Combine(root, "disk", "sweep.db")
                let html = Path.Combine(root, "disk", "report.html")
                let before, report = finished database, File.ReadAllBytes html
                let filler = fill root 8192L
                expectRefused (sweepAt root 2) root "the disk is full"
                Expect.equal (scalar database "PRAGMA integrity_check") "ok" "the database is sound"
                Expect.stringContains (finished database) before "every earlier trial is kept with its results"
                Expect.equal (File.ReadAllBytes html) report "the earlier report is intact"
                Expect.isEmpty (temporaries root) "no temporary file left"
                File.Delete filler
                let again = sweepAt root 2
                Expect.equal (fst again) 0 (sprintf "with room again the sweep finished:\n%s" (snd again))

                Expect.equal
                    (scalar database "SELECT COUNT(*) FROM trials WHERE status = 'completed'")
                    "4"
                    "every trial completed, once")
        testCase "in a read-only runs folder it stops before its first trial with a clear error"
        <| fun () ->
            let source = freshFolder "hybrid-ro-"

            try
                withReadOnlyView source (fun root ->
                    expectRefused (sweepAt root 1) root "read-only"
                    Expect.isEmpty (Directory.GetFileSystemEntries source) "nothing was written")
            finally
                Directory.Delete(source, true)
    ]

let private ageOut (file: string) =
    File.WriteAllText(file, "partial")
    File.SetLastWriteTimeUtc(file, DateTime.UtcNow - Files.staleAfter - TimeSpan.FromMinutes 1.0)

let private temporaryTests =
    testList "temporary files" [
        testCase "the next write of a target removes its stale temporary files, and only those"
        <| fun () ->
            let folder = freshFolder "hybrid-tmp-"

            try
                let stale =
                    Path.Combine(folder, ".model.safetensors.0123456789abcdef0123456789abcdef.tmp")

                let fresh =
                    Path.Combine(folder, ".model.safetensors.fedcba9876543210fedcba9876543210.tmp")

                let otherTarget =
                    Path.Combine(folder, ".other.safetensors.0123456789abcdef0123456789abcdef.tmp")

                let users = Path.Combine(folder, ".model.safetensors.mine.tmp")
                [ stale; otherTarget; users ] |> List.iter ageOut
                File.WriteAllText(fresh, "a write in progress")
                ModelFile.save (Path.Combine(folder, "model.safetensors")) (model 1)
                Expect.isFalse (File.Exists stale) "the stale temporary file is gone"

                for kept in [ fresh; otherTarget; users ] do
                    Expect.isTrue (File.Exists kept) (sprintf "%s is kept" (Path.GetFileName kept))
            finally
                Directory.Delete(folder, true)
        testCase "a sweep folder's stale temporary files are removed, in every subfolder"
        <| fun () ->
            let folder = freshFolder "hybrid-tmp-"

            try
                Directory.CreateDirectory(Path.Combine(folder, "trials")) |> ignore

                let stale = [
                    ".report.html.0123456789abcdef0123456789abcdef.tmp"
                    "trials/.k.safetensors.0123456789abcdef0123456789abcdef.tmp"
                ]

                let kept = [ "notes.tmp"; "trials/.k.safetensors.not-a-guid.tmp" ]
                stale @ kept |> List.iter (fun name -> ageOut (Path.Combine(folder, name)))
                Files.removeStaleTemporariesUnder folder

                for name in stale do
                    Expect.isFalse (File.Exists(Path.Combine(folder, name))) (sprintf "%s is removed" name)

                for name in kept do
                    Expect.isTrue (File.Exists(Path.Combine(folder, name))) (sprintf "%s is kept" name)
            finally
                Directory.Delete(folder, true)
        testCase "a write that fails midway deletes its temporary file and leaves the target as it was"
        <| fun () ->
            let folder = freshFolder "hybrid-tmp-"

            try
                let target = Path.Combine(folder, "data.bin")
                Files.writeAtomically target (fun stream -> stream.Write([| 1uy; 2uy |], 0, 2))

                let failing (stream: Stream) =
                    stream.Write(Array.zeroCreate<byte> 100_000, 0, 100_000)
                    raise (InvalidOperationException "the writer failed")

                Expect.throwsT<InvalidOperationException>
                    (fun () -> Files.writeAtomically target failing)
                    "the writer's own error comes through"

                Expect.equal (File.ReadAllBytes target) [| 1uy; 2uy |] "the target is unchanged"
                Expect.isEmpty (temporaries folder) "no temporary file"
            finally
                Directory.Delete(folder, true)
    ]

let tests =
    testList "disk" [ fullDiskTests; readOnlyTests; sweepTests; temporaryTests ]
