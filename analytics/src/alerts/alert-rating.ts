import { analyticsErrors } from '../errors.ts';
import type { AlertEventSpec, Rating, RatingStage } from './alert-event.ts';
import type { AlertView } from './alert-projection.ts';
import type { Dispatch } from './dispatch-config.ts';

/** Where a rating came from; stored as the actor `rater:<channel>`, never who rated. */
export const RATING_CHANNELS = ['screen', 'link', 'console'] as const;
export type RatingChannel = (typeof RATING_CHANNELS)[number];

export interface RatingRequest {
  readonly rating: Rating;
  readonly comment: string;
  readonly channel: RatingChannel;
  /** A link rates the stage it was made for; the other channels rate the alert's current stage. */
  readonly stage?: RatingStage;
}

export interface RatingContext {
  readonly dispatch: Dispatch;
  readonly remainsPhrases: readonly string[];
  /** Another live alert of the same key (a closed case cannot reopen beside it). */
  readonly liveOther: AlertView | undefined;
}

export function raterActor(channel: RatingChannel): string {
  return `rater:${channel}`;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Whether the comment says the problem remains: one of the phrases, ASCII ones as whole words. */
export function commentSaysRemains(comment: string, phrases: readonly string[]): boolean {
  const text = comment.normalize('NFKC').toLowerCase();
  return phrases.some((p) => {
    const phrase = p.normalize('NFKC').toLowerCase();
    // eslint-disable-next-line no-control-regex
    return /^[\x00-\x7f]+$/.test(phrase) ? new RegExp(`\\b${escapeRegExp(phrase)}\\b`).test(text) : text.includes(phrase);
  });
}

/** Checks a rating's text before any lock is taken; the comment's length is counted in code points. */
export function checkRatingText(comment: string, maxCommentChars: number): void {
  if ([...comment].length > maxCommentChars) throw analyticsErrors.ANALYTICS_ERR_RATING_INVALID(`the comment is longer than ${maxCommentChars} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(comment)) throw analyticsErrors.ANALYTICS_ERR_RATING_INVALID('the comment holds control characters');
}

/**
 * The events of one rating of a handled alert (issue 23), decided under the alert's lock:
 * - rateable: the alert was resolved by its department and is now resolved or closed (the stage);
 *   one rating per (stage, channel): a second is refused (a link's reuse with its own code);
 * - good: just the `rated` event;
 * - bad: the case reopens for rectification (`reopened` + `dispatched` to the same department) when
 *   the rule's condition is still active (the data) or the comment says the problem remains
 *   (commentSaysRemains); otherwise it is `flagged` for the department's parent in the dispatch
 *   tree (the escalation route: district department -> municipal bureau -> duty office). A closed
 *   case whose key has a new live alert is flagged too: the problem is a case again already.
 */
export function ratingSpecs(view: AlertView, request: RatingRequest, ctx: RatingContext): AlertEventSpec[] {
  const actor = raterActor(request.channel);
  if (view.resolvedAt === undefined || (view.state !== 'resolved' && view.state !== 'closed')) {
    throw analyticsErrors.ANALYTICS_ERR_RATING_NOT_RATEABLE(`alert ${view.id} is ${view.state}${view.resolvedAt === undefined ? ' and was never resolved' : ''}`);
  }
  const stage: RatingStage = view.state;
  if (request.stage !== undefined && request.stage !== stage) {
    throw analyticsErrors.ANALYTICS_ERR_RATING_NOT_RATEABLE(`the link rates the ${request.stage} stage; alert ${view.id} is now ${stage}`);
  }
  if (view.events.some((e) => e.type === 'rated' && e.ratingStage === stage && e.actor === actor)) {
    throw request.channel === 'link'
      ? analyticsErrors.ANALYTICS_ERR_RATING_LINK_USED()
      : analyticsErrors.ANALYTICS_ERR_RATING_DUPLICATE(`the ${stage} stage of alert ${view.id} is rated through ${request.channel}`);
  }
  const rated: AlertEventSpec = { type: 'rated', actor, state: view.state, feedback: request.comment, rating: request.rating, ratingStage: stage };
  if (request.rating === 'good') return [rated];
  const why = view.conditionActive
    ? "the rule's condition is still active"
    : commentSaysRemains(request.comment, ctx.remainsPhrases)
      ? 'the comment says the problem remains'
      : undefined;
  const department = view.department || ctx.dispatch.route(view).department;
  if (why !== undefined && (ctx.liveOther === undefined || ctx.liveOther.id === view.id)) {
    return [
      rated,
      { type: 'reopened', actor: 'system', state: 'open', feedback: `rated bad (${request.channel}) and ${why}: reopened for rectification` },
      { type: 'dispatched', actor: 'system', state: 'dispatched', department },
    ];
  }
  const supervisor = ctx.dispatch.department(department)?.parent ?? department;
  const reason =
    why === undefined
      ? `rated bad (${request.channel}) while the data shows the problem gone: for ${supervisor} to review`
      : `rated bad (${request.channel}) and ${why}, already handled as alert ${ctx.liveOther!.id}: for ${supervisor} to review`;
  return [rated, { type: 'flagged', actor: 'system', state: view.state, feedback: reason, flaggedFor: supervisor }];
}
