using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Hybrid.Engine.Model;

/// <summary>
/// What the public entry points refuse, each with a message naming the argument, the expected
/// and the found value: the engine never trains silently on garbage.
/// </summary>
public static class InputChecks
{
    public static void Batch(ReadOnlySpan<float> x, ReadOnlySpan<int> labels, int batch, NetworkShape shape, int capacity)
    {
        if (batch < 1 || batch > capacity)
            throw new ArgumentOutOfRangeException(nameof(batch), batch, $"batch: expected 1 to {capacity} rows, found {batch}");
        Length(x.Length, batch * shape.D, nameof(x));
        if (!labels.IsEmpty) Length(labels.Length, batch, nameof(labels));
        Labels(labels, shape.P);
        Finite(x, nameof(x), shape.D);
    }

    public static void Labelled(ReadOnlySpan<int> labels, int batch)
    {
        if (labels.IsEmpty)
            throw new ArgumentException($"labels: expected {batch} labels for the backward pass, found none", nameof(labels));
    }

    public static void Length(int found, int expected, string name)
    {
        if (found != expected)
            throw new ArgumentException($"{name}: expected {expected} elements, found {found}", name);
    }

    public static void Labels(ReadOnlySpan<int> labels, int classes)
    {
        for (var i = 0; i < labels.Length; i++)
            if ((uint)labels[i] >= (uint)classes)
                throw new ArgumentException($"labels[{i}]: expected a class in [0, {classes}), found {labels[i]}", nameof(labels));
    }

    /// <summary>Refuses NaN and ±∞, naming the first offending row and column.</summary>
    public static void Finite(ReadOnlySpan<float> values, string name, int columns)
    {
        var index = FirstNonFinite(values);
        if (index >= 0)
            throw new ArgumentException(
                $"{name}[row {index / columns}, column {index % columns}]: expected a finite number, found {values[index]}", name);
    }

    // x − x is 0 for every finite x and NaN for NaN and ±∞, so one vector compare scans 8 at a time.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int FirstNonFinite(ReadOnlySpan<float> values)
    {
        ref var v = ref MemoryMarshal.GetReference(values);
        var i = 0;
        for (; i + 8 <= values.Length; i += 8)
        {
            var x = Vector256.LoadUnsafe(ref v, (nuint)i);
            if (!Vector256.EqualsAll(x - x, Vector256<float>.Zero)) break;
        }
        for (; i < values.Length; i++)
            if (!float.IsFinite(values[i])) return i;
        return -1;
    }
}
