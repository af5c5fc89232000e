"""Segment an image with RapSAM: panoptic result, or one mask per point/box prompt.

    python demo/demo.py IMAGE CONFIG --weights W [--points x,y ...] [--boxes x1,y1,x2,y2 ...] --out out.png

The picture shows the input and the overlay side by side. Runs on CPU by default.
"""
import argparse
import sys

import cv2


def coords(text: str, n: int):
    values = [float(v) for v in text.split(',')]
    if len(values) != n:
        raise argparse.ArgumentTypeError(f'expected {n} comma-separated numbers, got {text!r}')
    return values


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('image')
    parser.add_argument('config')
    parser.add_argument('--weights', help='checkpoint to load (strict)')
    parser.add_argument('--untrained', action='store_true',
                        help='run without --weights: a randomly initialised model, whose masks mean nothing (for '
                        'checking the pipeline only)')
    parser.add_argument('--points', nargs='*', type=lambda t: coords(t, 2), default=[], metavar='X,Y')
    parser.add_argument('--boxes', nargs='*', type=lambda t: coords(t, 4), default=[], metavar='X1,Y1,X2,Y2')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--out', required=True, help='output picture (.png/.jpg)')
    args = parser.parse_args(argv)
    if args.weights is None and not args.untrained:
        parser.error('--weights is missing: without it the model is randomly initialised and draws meaningless '
                     'masks (pass --untrained to run it anyway, e.g. to check the pipeline)')

    import seg  # noqa: F401  (chooses the ops backend)
    from seg.apis import init_model, read_image, segment_image
    from seg.visualization import overlay_masks, overlay_panoptic, side_by_side

    image = read_image(args.image)
    model = init_model(args.config, args.weights, args.device)
    result = segment_image(model, image, args.points, args.boxes)
    if args.points or args.boxes:
        overlay = overlay_masks(image, result.pred_instances.masks.cpu().numpy(), points=args.points)
    else:
        void = model.panoptic_head.num_classes
        overlay = overlay_panoptic(image, result.pred_panoptic_seg.sem_seg[0].cpu().numpy(), void)
    if not cv2.imwrite(args.out, side_by_side(image, overlay)):
        parser.error(f'could not write {args.out} (unknown extension or unwritable folder)')
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
