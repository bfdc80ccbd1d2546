"""Video and image files every layer reads and writes (ffmpeg pipes, PNG), below everything else."""
