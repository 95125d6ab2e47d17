namespace Hybrid.Engine.Kernels;

/// <summary>Length checks shared by the kernels: a short span is a caller's bug, so say which and by how much.</summary>
internal static class Shapes
{
    public static void Require(ReadOnlySpan<float> span, int length, string name)
    {
        if (span.Length < length)
            throw new ArgumentException($"{name}: expected at least {length} elements, found {span.Length}", name);
    }

    public static void Require(ReadOnlySpan<int> span, int length, string name)
    {
        if (span.Length < length)
            throw new ArgumentException($"{name}: expected at least {length} elements, found {span.Length}", name);
    }

    /// <summary>The diagonal skip's width k must fit both the input (d) and the output (n).</summary>
    public static int DiagonalWidth(ReadOnlySpan<float> w, int d, int n)
    {
        var most = Math.Min(d, n);
        if (w.Length > most)
            throw new ArgumentException($"w: expected at most min(d, n) = {most} elements, found {w.Length}", nameof(w));
        return w.Length;
    }
}
