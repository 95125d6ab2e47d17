// Waiting for the JIT's background compiler before a measurement, shared by the benchmarks.
module Jit

open System.Diagnostics
open System.IO

/// CPU ticks used so far by the runtime's tiered-compilation thread (0 where /proc is missing).
let tieringTicks () =
    try
        Directory.GetDirectories "/proc/self/task"
        |> Array.sumBy (fun task ->
            if File.ReadAllText(Path.Combine(task, "comm")).StartsWith ".NET Tier" then
                let stat = File.ReadAllText(Path.Combine(task, "stat"))
                let fields = stat.Substring(stat.LastIndexOf ')' + 2).Split ' '
                int64 fields[11] + int64 fields[12] // utime and stime, fields 14 and 15 of stat
            else
                0L)
    with :? IOException ->
        0L

/// fsi keeps the JIT's background compiler busy for several seconds after a script starts (tiering
/// up its own compiler), and on a 2-core machine that thread takes a core from a 2-thread
/// measurement: MNIST batch 128 on 2 threads gave anywhere from 32k to 188k samples/s in fresh runs.
/// Waits, at most 30 s, until it has used no CPU for half a second.
let waitForQuietJit () =
    let watch = Stopwatch.StartNew()
    let mutable last = tieringTicks ()
    let mutable quiet = false

    while not quiet && watch.Elapsed.TotalSeconds < 30.0 do
        System.Threading.Thread.Sleep 500
        let now = tieringTicks ()
        quiet <- now = last
        last <- now

    eprintfn "waited %.1f s for the JIT's background compiler to finish" watch.Elapsed.TotalSeconds
