namespace Hybrid.Engine.Kernels;

/// <summary>Shape checks shared by every <see cref="IMatrixProducts"/> implementation.</summary>
internal static class ProductArguments
{
    // Spans longer than the shape needs are allowed: callers often pass views over a larger buffer.
    public static void Validate(
        int aLength, (int Rows, int Cols) aShape,
        int bLength, (int Rows, int Cols) bShape,
        int cLength, int m, int n, int k)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(m);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        Check(aLength, aShape, "a");
        Check(bLength, bShape, "b");
        Check(cLength, (m, n), "c");
    }

    private static void Check(int length, (int Rows, int Cols) shape, string name)
    {
        var needed = (long)shape.Rows * shape.Cols;
        if (length < needed)
        {
            throw new ArgumentException(
                $"{name} is too short for a ({shape.Rows}×{shape.Cols}) matrix: expected at least {needed} elements, found {length}.",
                name);
        }
    }
}
