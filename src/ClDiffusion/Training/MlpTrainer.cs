using System.Globalization;
using ClDiffusion.Data;
using ClDiffusion.Diffusion;
using ClDiffusion.Models.Mlp;
using ClDiffusion.Random;

namespace ClDiffusion.Training;

/// <summary>Every trainer parameter (docs/MLP.md).</summary>
public sealed record MlpTrainOptions
{
    /// <summary>Hidden width.</summary>
    public int Width { get; init; } = 128;
    /// <summary>Number of hidden layers (Linear + SiLU); the network has Depth + 1 Linear layers.</summary>
    public int Depth { get; init; } = 3;
    public int Steps { get; init; } = 4000;
    public int Batch { get; init; } = 256;
    /// <summary>Peak Adam learning rate (linear warm-up, then cosine decay to 5%).</summary>
    public double LearningRate { get; init; } = 2e-3;
    public int Warmup { get; init; } = 100;
    public ulong Seed { get; init; } = 0;
    /// <summary>EMA decay of the exported weights (0 = export the raw weights).</summary>
    public double Ema { get; init; } = 0.999;
    /// <summary>Training times t are drawn in [Delta, Horizon]: half log-uniform, half uniform.</summary>
    public double Horizon { get; init; } = 8.0;
    public double Delta { get; init; } = 1e-3;
    /// <summary>Number F of time frequencies, geometric from MinFrequency to MaxFrequency.</summary>
    public int TimeFrequencies { get; init; } = 16;
    public double MinFrequency { get; init; } = 0.1;
    public double MaxFrequency { get; init; } = 50;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.999;
    public double AdamEps { get; init; } = 1e-8;
    /// <summary>Gradient-norm clip (0 = off).</summary>
    public double Clip { get; init; } = 1.0;
    /// <summary>Threads for the matrix products; results do not depend on it.</summary>
    public int Threads { get; init; } = 0;
    /// <summary>
    /// What the network predicts: eps (loss ||eps_hat - z||^2), or x0 (loss min(SNR_t, MinSnr) ||x0_hat - y0||^2, the
    /// min-SNR weighting). An x0 network's score (alpha x0_hat - y)/sigma^2 has the exact -I Jacobian built in at large
    /// t, where an eps network must learn the identity map, whose error the flow then integrates: in 64 dimensions
    /// that made the eps model's samples drift away.
    /// </summary>
    public MlpPrediction Prediction { get; init; } = MlpPrediction.Eps;
    /// <summary>Cap of the min-SNR loss weight (x0 prediction).</summary>
    public double MinSnr { get; init; } = 5.0;
    /// <summary>
    /// Class-conditional training (the data must carry labels): a class embedding is added to the first layer, and
    /// a share <see cref="LabelDropout"/> of the rows is given the null class, so one network learns both s(x, t | c)
    /// and s(x, t | null) for classifier-free guidance.
    /// </summary>
    public bool Conditional { get; init; }
    /// <summary>Share of rows trained with the null class (conditional training).</summary>
    public double LabelDropout { get; init; } = 0.15;
    /// <summary>
    /// Loss weight of the rows trained with class c (conditional training; one entry per class, null: all 1). A class
    /// the network learns worst (Fashion-MNIST's shirts) gets a larger share of the gradient, as if it were drawn that
    /// much more often, while the rows trained with the null class keep weight 1: the unconditional score, which
    /// guidance subtracts, still learns the data's own class mix. Weights multiply the min-SNR weights of x0 training.
    /// </summary>
    public double[]? ClassWeights { get; init; }
    /// <summary>
    /// The BLAS for the large matrix products of the forward and backward pass (null: the managed <see cref="Sgemm"/>
    /// everywhere). Products are split into fixed blocks of rows, each one single-threaded BLAS call, so the weights do
    /// not depend on the thread count; they do depend on the library (its kernels sum in their own order).
    /// </summary>
    public BlasLibrary? Blas { get; init; }

    public void Validate()
    {
        static void Need(bool ok, string m) { if (!ok) throw new ArgumentException(m); }
        Need(Width >= 1, $"width must be at least 1, got {Width}");
        Need(Depth >= 1, $"depth must be at least 1, got {Depth}");
        Need(Steps >= 0, $"steps must be >= 0, got {Steps}");
        Need(Batch >= 1, $"batch must be at least 1, got {Batch}");
        Need(LearningRate > 0 && double.IsFinite(LearningRate), $"learning rate must be positive, got {LearningRate}");
        Need(Ema >= 0 && Ema < 1, $"EMA decay must be in [0, 1), got {Ema}");
        Need(Delta > 0 && Delta < Horizon && double.IsFinite(Horizon), $"need 0 < delta < T, got delta={Delta}, T={Horizon}");
        Need(TimeFrequencies >= 1, $"time frequencies must be at least 1, got {TimeFrequencies}");
        Need(MinFrequency > 0 && MaxFrequency >= MinFrequency, $"need 0 < min frequency <= max frequency");
        Need(Prediction is MlpPrediction.Eps or MlpPrediction.X0, $"the trainer predicts eps or x0, not {Prediction}");
        Need(MinSnr > 0 && double.IsFinite(MinSnr), $"min-SNR cap must be positive, got {MinSnr}");
        Need(LabelDropout >= 0 && LabelDropout <= 1, $"label dropout must be in [0, 1], got {LabelDropout}");
        if (ClassWeights is { } cw)
        {
            Need(Conditional, "class weights need conditional training");
            for (int c = 0; c < cw.Length; c++)
                Need(cw[c] >= 0 && double.IsFinite(cw[c]), $"class weight {c} must be finite and >= 0, got {cw[c]}");
            Need(cw.Any(v => v > 0), "class weights are all 0: no conditional row would train");
        }
    }
}

/// <summary>
/// Denoising score matching for <see cref="MlpModel"/> with eps prediction (DESIGN 1.1), in normalised space:
/// y0 = (x0 - mean)/std, t in [delta, T], y_t = e^{-t} y0 + sigma_t z, loss = mean over rows and coordinates of
/// (eps_theta(y_t, t) - z)^2. Hand-written backprop, Adam, EMA. Deterministic for a seed: all randomness from
/// Philox keys (seed, step, purpose) and every reduction in a fixed order, so thread count changes nothing.
/// </summary>
public sealed class MlpTrainer
{
    public const Purpose TimePurpose = (Purpose)0x5452_0001, NoisePurpose = (Purpose)0x5452_0002, InitPurpose = (Purpose)0x5452_0003,
        LabelDropPurpose = (Purpose)0x5452_0004;

    readonly MlpTrainOptions o;
    readonly ITrainingData data;
    readonly int d, F, inW, layers, threads, classes;   // inW includes the one-hot class columns (K + 1) when conditional
    readonly ILabelledTrainingData? labelled;
    readonly int[] ins, outs;
    readonly float[] freqs, mean, std;
    internal readonly float[][] W, B;             // parameters, W[l] [out, in]
    readonly float[][] mW, vW, mB, vB, eW, eB;    // Adam moments, EMA
    internal readonly float[][] gW, gB;           // gradients
    public int StepsDone { get; private set; }
    public double LastLoss { get; private set; }

    /// <summary>The warm-start model (null: random init), kept for the metadata of <see cref="ToModel"/>.</summary>
    readonly MlpModel? init;

    /// <param name="init">
    /// Warm start: a model of this very network (width, depth, data dimension, classes, prediction, time frequencies
    /// and normalisation must match; <see cref="CheckInit"/> names the first mismatch) whose weights replace the random
    /// init. The EMA starts from them, the Adam moments at zero, and the learning-rate schedule runs afresh over
    /// <see cref="MlpTrainOptions.Steps"/>. Its time frequencies and normalisation (as stored, e.g. rounded to F16) are
    /// used, so the network sees the inputs it was trained on and sampled with.
    /// </param>
    public MlpTrainer(MlpTrainOptions options, ITrainingData data, MlpModel? init = null)
    {
        options.Validate();
        o = options; this.data = data;
        d = data.Dim; F = o.TimeFrequencies; layers = o.Depth + 1;
        if (o.Conditional)
        {
            labelled = data as ILabelledTrainingData;
            if (labelled is null || labelled.NumClasses < 1) throw new ArgumentException($"conditional training needs labelled data; '{data.Name}' has no labels");
            classes = labelled.NumClasses;
            if (o.ClassWeights is { } cw && cw.Length != classes)
                throw new ArgumentException($"{cw.Length} class weights given, '{data.Name}' has {classes} classes");
        }
        // The class embedding is trained as K + 1 one-hot input columns of layer 0 (the same product; see MlpModel.FirstLayerWithClasses).
        inW = d + 2 * F + (o.Conditional ? classes + 1 : 0);
        threads = o.Threads > 0 ? o.Threads : Environment.ProcessorCount;
        (mean, std) = data.Normalisation();
        freqs = new float[F];
        for (int i = 0; i < F; i++)
            freqs[i] = (float)(F == 1 ? o.MinFrequency : o.MinFrequency * Math.Pow(o.MaxFrequency / o.MinFrequency, i / (double)(F - 1)));
        ins = new int[layers]; outs = new int[layers];
        for (int l = 0; l < layers; l++) { ins[l] = l == 0 ? inW : o.Width; outs[l] = l == layers - 1 ? d : o.Width; }
        W = Alloc(true); B = Alloc(false);
        if (init is not null)
        {
            CheckInit(init, options, data, classes, mean, std, freqs);
            this.init = init;
            // the trainer's layer 0 is [out, d + 2F (+ K + 1)]: net.0.weight with class_embed.weight^T as its last columns,
            // which is exactly what the backends evaluate (FirstLayerWithClasses)
            for (int l = 0; l < layers; l++)
            {
                var L = l == 0 ? init.FirstLayerWithClasses() : init.Layers[l];
                L.Weight.AsSpan().CopyTo(W[l]);
                L.Bias.AsSpan().CopyTo(B[l]);
            }
            init.TimeFreqs.AsSpan().CopyTo(freqs);
            init.DataMean.AsSpan().CopyTo(mean);
            init.DataStd.AsSpan().CopyTo(std);
        }
        // torch.nn.Linear's default init: U(-1/sqrt(in), 1/sqrt(in)) for weights and biases, from Philox (seed, layer, InitPurpose).
        else for (int l = 0; l < layers; l++)
        {
            var key = new RandomKey(o.Seed, (uint)l, InitPurpose);
            float bound = 1 / MathF.Sqrt(ins[l]);
            for (int r = 0; r < outs[l]; r++)
            {
                for (int c = 0; c < ins[l]; c++) W[l][r * ins[l] + c] = bound * (2 * key.Uniform(r, c) - 1);
                B[l][r] = bound * (2 * key.Uniform(r, ins[l]) - 1);
            }
        }
        mW = Alloc(true); vW = Alloc(true); mB = Alloc(false); vB = Alloc(false);
        gW = Alloc(true); gB = Alloc(false);
        eW = W.Select(a => (float[])a.Clone()).ToArray(); eB = B.Select(a => (float[])a.Clone()).ToArray();
    }

    /// <summary>Relative tolerance of the stored normalisation and frequencies (a file may hold them as F16 or BF16).</summary>
    const double InitTolerance = 4e-3;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first way the init model does not fit the requested network.</summary>
    static void CheckInit(MlpModel m, MlpTrainOptions o, ITrainingData data, int classes, float[] mean, float[] std, float[] freqs)
    {
        static void Need(bool ok, string what) { if (!ok) throw new ArgumentException($"--init model does not fit the requested network: {what}"); }
        int d = data.Dim;
        Need(m.Dim == d, $"data dimension {m.Dim} in the model, {d} in the data '{data.Name}'");
        Need(m.Layers.Count == o.Depth + 1, $"depth {m.Layers.Count - 1} in the model ({m.Layers.Count} linear layers), {o.Depth} requested");
        for (int l = 0; l < m.Layers.Count - 1; l++)
            Need(m.Layers[l].Out == o.Width, $"width {m.Layers[l].Out} in the model (layer net.{2 * l}), {o.Width} requested");
        Need(m.NumClasses > 0 == o.Conditional, o.Conditional ? "the model is unconditional, --conditional requested" : $"the model is class-conditional ({m.NumClasses} classes), --conditional not requested");
        Need(m.NumClasses == classes, $"{m.NumClasses} classes in the model, {classes} in the data '{data.Name}'");
        Need(m.Prediction == o.Prediction, $"prediction {MlpModel.PredictionName(m.Prediction)} in the model, {MlpModel.PredictionName(o.Prediction)} requested");
        // activation: the loader accepts only silu, the trainer's
        Need(m.TimeFreqs.Length == freqs.Length, $"{m.TimeFreqs.Length} time frequencies in the model, {freqs.Length} requested");
        static bool Close(float a, float b) => Math.Abs(a - b) <= InitTolerance * Math.Max(Math.Abs(a), Math.Abs(b)) + 1e-6;
        for (int i = 0; i < freqs.Length; i++)
            Need(Close(m.TimeFreqs[i], freqs[i]), $"time frequency {i} is {m.TimeFreqs[i]} in the model, {freqs[i]} requested (check --max-frequency)");
        for (int j = 0; j < d; j++)
        {
            Need(Close(m.DataMean[j], mean[j]), $"data_mean[{j}] is {m.DataMean[j]} in the model, {mean[j]} in the data '{data.Name}'");
            Need(Close(m.DataStd[j], std[j]), $"data_std[{j}] is {m.DataStd[j]} in the model, {std[j]} in the data '{data.Name}'");
        }
    }

    float[][] Alloc(bool weights) => Enumerable.Range(0, layers).Select(l => new float[weights ? ins[l] * outs[l] : outs[l]]).ToArray();

    public MlpTrainOptions Options => o;

    /// <summary>Learning rate at step s (0-based).</summary>
    public double LearningRateAt(int s)
    {
        if (s < o.Warmup) return o.LearningRate * (s + 1) / o.Warmup;
        double p = o.Steps <= o.Warmup ? 1 : (s - o.Warmup) / (double)Math.Max(1, o.Steps - o.Warmup);
        return o.LearningRate * (0.05 + 0.95 * 0.5 * (1 + Math.Cos(Math.PI * Math.Min(1, p))));
    }

    /// <summary>Runs all remaining steps; progress(step, loss) after each.</summary>
    public void Train(Action<int, double>? progress = null, CancellationToken cancel = default)
    {
        while (StepsDone < o.Steps)
        {
            cancel.ThrowIfCancellationRequested();
            Step();
            progress?.Invoke(StepsDone, LastLoss);
        }
    }

    /// <summary>Products of at least this many multiply-adds go to the BLAS when there is one.</summary>
    public const long BlasMinWork = 1L << 22;
    /// <summary>Rows of C per BLAS call (fixed, so the bits do not depend on the threads).</summary>
    const int BlasRows = 64;

    /// <summary>Which engine the large products use, for the model's metadata and the progress line.</summary>
    public string GemmDescription => o.Blas is { } b ? $"BLAS {b.Description} (products >= {BlasMinWork} multiply-adds), managed SGEMM otherwise" : $"managed SGEMM {Sgemm.VectorDescription}";

    /// <summary>C[m, n] = bias + A[m, k] B[k, n]: the BLAS in fixed row blocks for large products, else the managed SGEMM.</summary>
    unsafe void Gemm(float[] a, float[] b, float[] c, int m, int k, int n, float[]? bias)
    {
        var blas = o.Blas;
        if (blas is null || (long)m * k * n < BlasMinWork)
        {
            Sgemm.MultiplyParallel(a, b, c, m, k, n, bias, threads);
            return;
        }
        int blocks = (m + BlasRows - 1) / BlasRows;
        Parallel.For(0, blocks, new ParallelOptions { MaxDegreeOfParallelism = threads }, blk =>
        {
            int r0 = blk * BlasRows, rows = Math.Min(BlasRows, m - r0);
            if (bias is not null)
                for (int r = r0; r < r0 + rows; r++) bias.AsSpan(0, n).CopyTo(c.AsSpan(r * n, n));
            fixed (float* pa = a, pb = b, pc = c)
                blas.Multiply(pa + (long)r0 * k, pb, pc + (long)r0 * n, rows, k, n, accumulate: bias is not null);
        });
    }

    /// <summary>One optimisation step; returns the batch loss before the update.</summary>
    public double Step()
    {
        int n = o.Batch;
        uint step = (uint)StepsDone;
        var x0 = new float[n * d];
        data.Draw(o.Seed, step, n, x0);
        var input = new float[n * inW];
        var target = new float[n * d];
        var cw = o.ClassWeights;
        var weights = o.Prediction == MlpPrediction.X0 || cw is not null ? new float[n] : null;
        var tk = new RandomKey(o.Seed, step, TimePurpose);
        var nk = new RandomKey(o.Seed, step, NoisePurpose);
        double logRange = Math.Log(o.Horizon / o.Delta);
        var zr = new float[d];
        int[]? label = null;
        if (labelled is not null)
        {
            label = new int[n];
            labelled.DrawLabels(o.Seed, step, n, label);
            var dk = new RandomKey(o.Seed, step, LabelDropPurpose);
            for (int r = 0; r < n; r++) if (dk.Uniform(r, 0) < o.LabelDropout) label[r] = classes;   // the null class
        }
        for (int r = 0; r < n; r++)
        {
            float u = tk.Uniform(r, 0), which = tk.Uniform(r, 1);
            double t = which < 0.5f ? o.Delta * Math.Exp(u * logRange) : o.Delta + u * (o.Horizon - o.Delta);
            float a = (float)ForwardProcess.Alpha(t), s = (float)ForwardProcess.Sigma(t);
            if (weights is not null)
            {
                double w = o.Prediction == MlpPrediction.X0 ? Math.Min(Math.Exp(-2 * t) / ForwardProcess.SigmaSquared(t), o.MinSnr) : 1;
                if (cw is not null && label![r] < classes) w *= cw[label[r]];
                weights[r] = (float)w;
            }
            nk.Normals(r, zr);
            for (int j = 0; j < d; j++)
            {
                float y0 = (x0[r * d + j] - mean[j]) / std[j];
                input[r * inW + j] = a * y0 + s * zr[j];
                target[r * d + j] = o.Prediction == MlpPrediction.X0 ? y0 : zr[j];
            }
            TimeFeatures((float)t, freqs, input.AsSpan(r * inW + d, 2 * F));
            if (label is not null) input[r * inW + d + 2 * F + label[r]] = 1;
        }
        double loss = LossAndGradients(input, target, n, weights);
        ApplyAdam(LearningRateAt(StepsDone), StepsDone + 1);
        StepsDone++;
        LastLoss = loss;
        return loss;
    }

    /// <summary>[sin(t f_i)], then [cos(t f_i)], float32 (what the CPU backend's MlpCpuScore computes).</summary>
    public static void TimeFeatures(float t, float[] f, Span<float> dst)
    {
        int F = f.Length;
        for (int i = 0; i < F; i++) { float arg = t * f[i]; dst[i] = MathF.Sin(arg); dst[F + i] = MathF.Cos(arg); }
    }

    /// <summary>
    /// Forward and backward pass on feature rows input [n, inW] against targets [n, d]: fills gW, gB with the gradient
    /// of loss = sum_r w_r sum_j (out - target)^2 / (n d) (w_r = 1 without weights) and returns the loss.
    /// </summary>
    internal double LossAndGradients(float[] input, float[] target, int n, float[]? weights = null)
    {
        var z = new float[layers][];  // pre-activations
        var h = new float[layers + 1][]; // h[0] = input, h[l+1] = silu(z[l]) (last: z itself)
        h[0] = input;
        for (int l = 0; l < layers; l++)
        {
            var wt = new float[ins[l] * outs[l]];
            Sgemm.Transpose(W[l], outs[l], ins[l], wt);
            z[l] = new float[n * outs[l]];
            Gemm(h[l], wt, z[l], n, ins[l], outs[l], B[l]);
            if (l < layers - 1)
            {
                var hl = new float[z[l].Length];
                for (int i = 0; i < hl.Length; i++) hl[i] = SimdExp.Silu(z[l][i]);
                h[l + 1] = hl;
            }
            else h[l + 1] = z[l];
        }
        var outp = h[layers];
        double loss = 0;
        var g = new float[n * d];
        float scale = 2f / (n * d);
        for (int i = 0; i < g.Length; i++)
        {
            float e = outp[i] - target[i], w = weights is null ? 1f : weights[i / d];
            loss += (double)w * e * e;
            g[i] = scale * w * e;
        }
        loss /= n * d;
        for (int l = layers - 1; l >= 0; l--)
        {
            int In = ins[l], Out = outs[l];
            var gt = new float[n * Out];
            Sgemm.Transpose(g, n, Out, gt);
            Gemm(gt, h[l], gW[l], Out, n, In, null);   // dW = G^T H
            var gb = gB[l];
            Array.Clear(gb);
            for (int r = 0; r < n; r++)
                for (int c = 0; c < Out; c++) gb[c] += g[r * Out + c];
            if (l == 0) break;
            var dh = new float[n * In];
            Gemm(g, W[l], dh, n, Out, In, null);       // dH = G W
            var zp = z[l - 1];
            for (int i = 0; i < dh.Length; i++)
            {
                float x = zp[i], sg = 1 / (1 + MathF.Exp(-x));
                dh[i] *= sg * (1 + x * (1 - sg));
            }
            g = dh;
        }
        return loss;
    }

    void ApplyAdam(double lr, int t)
    {
        double clip = 1;
        if (o.Clip > 0)
        {
            double norm2 = 0;
            for (int l = 0; l < layers; l++)
            {
                foreach (var v in gW[l]) norm2 += (double)v * v;
                foreach (var v in gB[l]) norm2 += (double)v * v;
            }
            double norm = Math.Sqrt(norm2);
            if (norm > o.Clip) clip = o.Clip / norm;
        }
        double b1 = o.Beta1, b2 = o.Beta2;
        float c1 = (float)(lr / (1 - Math.Pow(b1, t))), c2 = (float)(1 / (1 - Math.Pow(b2, t)));
        float fb1 = (float)b1, fb2 = (float)b2, eps = (float)o.AdamEps, fclip = (float)clip;
        double decay = o.Ema == 0 ? 0 : Math.Min(o.Ema, (1.0 + t) / (10.0 + t));
        float ed = (float)decay;
        for (int l = 0; l < layers; l++)
        {
            Update(W[l], gW[l], mW[l], vW[l], eW[l]);
            Update(B[l], gB[l], mB[l], vB[l], eB[l]);
        }
        void Update(float[] p, float[] g, float[] m, float[] v, float[] e)
        {
            for (int i = 0; i < p.Length; i++)
            {
                float gi = g[i] * fclip;
                m[i] = fb1 * m[i] + (1 - fb1) * gi;
                v[i] = fb2 * v[i] + (1 - fb2) * gi * gi;
                p[i] -= c1 * m[i] / (MathF.Sqrt(v[i] * c2) + eps);
                e[i] = ed * e[i] + (1 - ed) * p[i];
            }
        }
    }

    /// <summary>The model with the EMA weights (or the raw weights), copied.</summary>
    public MlpModel ToModel(bool ema = true, IReadOnlyDictionary<string, string>? info = null)
    {
        var w = ema && o.Ema > 0 ? eW : W; var b = ema && o.Ema > 0 ? eB : B;
        var ls = Enumerable.Range(0, layers).Select(l => new MlpLayer(ins[l], outs[l], (float[])w[l].Clone(), (float[])b[l].Clone())).ToList();
        float[]? embed = null;
        if (o.Conditional)
        {
            // split layer 0 [out, d + 2F + K + 1] into net.0.weight [out, d + 2F] and class_embed.weight [K + 1, out]
            int plain = d + 2 * F, c = classes + 1, w0 = outs[0];
            var wp = new float[w0 * plain];
            embed = new float[c * w0];
            for (int r = 0; r < w0; r++)
            {
                ls[0].Weight.AsSpan(r * inW, plain).CopyTo(wp.AsSpan(r * plain));
                for (int k = 0; k < c; k++) embed[k * w0 + r] = ls[0].Weight[r * inW + plain + k];
            }
            ls[0] = new MlpLayer(plain, w0, wp, ls[0].Bias);
        }
        var meta = new Dictionary<string, string>
        {
            ["data"] = data.Name,
            ["train_steps"] = StepsDone.ToString(CultureInfo.InvariantCulture),
            ["train_seed"] = o.Seed.ToString(CultureInfo.InvariantCulture),
            ["train_delta"] = o.Delta.ToString("R", CultureInfo.InvariantCulture),
            ["train_horizon"] = o.Horizon.ToString("R", CultureInfo.InvariantCulture),
            ["train_gemm"] = GemmDescription,
            ["weights"] = ema && o.Ema > 0 ? $"ema {o.Ema.ToString(CultureInfo.InvariantCulture)}" : "raw",
        };
        if (init is not null)
        {
            // steps of the whole lineage: the init's own total (or its train_steps) plus this run's
            long before = init.Info.TryGetValue("train_steps_total", out var tot) && long.TryParse(tot, NumberStyles.None, CultureInfo.InvariantCulture, out var t0) ? t0
                : init.Info.TryGetValue("train_steps", out var st) && long.TryParse(st, NumberStyles.None, CultureInfo.InvariantCulture, out var t1) ? t1 : -1;
            if (before >= 0) meta["train_steps_total"] = (before + StepsDone).ToString(CultureInfo.InvariantCulture);
        }
        if (o.Conditional) meta["train_label_dropout"] = o.LabelDropout.ToString("R", CultureInfo.InvariantCulture);
        if (o.ClassWeights is { } cws) meta["train_class_weights"] = string.Join(",", cws.Select(v => v.ToString("R", CultureInfo.InvariantCulture)));
        if (info is not null) foreach (var kv in info) meta[kv.Key] = kv.Value;
        return new MlpModel(ls, (float[])freqs.Clone(), (float[])mean.Clone(), (float[])std.Clone(), o.Prediction, meta, embed);
    }
}
