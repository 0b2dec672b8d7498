namespace ClDiffusion; public static class Version { public const string Text = "0.1.0"; }
