"""Segment an image with RapSAM or FastSAM2: panoptic result, or the masks of prompted objects.

    python demo/demo.py IMAGE CONFIG --weights W [--points x,y ...] [--boxes x1,y1,x2,y2 ...]
        [--text "the dog on the left"] --out out.png

The picture shows the input and the overlay side by side. Runs on CPU by default.
Bad input (a missing file, a point outside the image, a box with x2 < x1, an
empty text, text for a RapSAM config, ...) exits with status 2 and one
``demo.py: error: ...`` line, writing nothing; ``--debug`` shows the traceback.
"""
import argparse
import sys

import cv2

PROMPT_RULE = '''\
prompts (coordinates in pixels of IMAGE):
  none                  panoptic segmentation of the whole image
  FastSAM2 configs      one object per box, each with its box, all the --points and
                        the --text; without --boxes, one object from the --points
                        and/or the --text together
  RapSAM configs        one object per point, then one per box; no --text
'''


def coords(text: str, n: int):
    try:
        values = [float(v) for v in text.split(',')]
    except ValueError:
        values = []
    if len(values) != n:
        raise argparse.ArgumentTypeError(f'expected {n} comma-separated numbers, got {text!r}')
    return values


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=PROMPT_RULE,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('image')
    parser.add_argument('config')
    parser.add_argument('--weights', help='checkpoint to load (strict)')
    parser.add_argument('--untrained', action='store_true',
                        help='run without --weights: a randomly initialised model, whose masks mean nothing (for '
                        'checking the pipeline only)')
    parser.add_argument('--points', nargs='*', type=lambda t: coords(t, 2), default=[], metavar='X,Y',
                        help='positive clicks (see "prompts" below)')
    parser.add_argument('--boxes', nargs='*', type=lambda t: coords(t, 4), default=[], metavar='X1,Y1,X2,Y2',
                        help='boxes, top-left corner first (see "prompts" below)')
    parser.add_argument('--text', help='a sentence naming the object (FastSAM2 configs only)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--out', required=True, help='output picture (.png/.jpg)')
    parser.add_argument('--debug', action='store_true', help='show the full traceback of an error')
    args = parser.parse_args(argv)
    if args.weights is None and not args.untrained:
        parser.error('--weights is missing: without it the model is randomly initialised and draws meaningless '
                     'masks (pass --untrained to run it anyway, e.g. to check the pipeline)')

    import seg  # noqa: F401  (chooses the ops backend)
    from seg.apis import init_model, read_image, segment_image
    from seg.apis.tool_errors import run_tool
    from seg.visualization import overlay_masks, overlay_panoptic, side_by_side

    def work() -> None:
        image = read_image(args.image)
        model = init_model(args.config, args.weights, args.device)
        result = segment_image(model, image, args.points, args.boxes, args.text)
        if args.points or args.boxes or args.text is not None:
            overlay = overlay_masks(image, result.pred_instances.masks.cpu().numpy(), points=args.points)
        else:
            void = model.panoptic_head.num_classes
            overlay = overlay_panoptic(image, result.pred_panoptic_seg.sem_seg[0].cpu().numpy(), void)
        if not cv2.imwrite(args.out, side_by_side(image, overlay)):
            parser.error(f'could not write {args.out} (unknown extension or unwritable folder)')
        print(f'wrote {args.out}')

    return run_tool('demo.py', work, args.debug)


if __name__ == '__main__':
    sys.exit(main())
