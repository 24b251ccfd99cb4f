// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * SECTION:element-feedbacksink
 * @title: feedbacksink
 * @see_also: feedbacksrc
 *
 * Sink half of the recursive-inpainting loop: every frame it receives is
 * handed to the #feedbacksrc with the same #GstFeedbackSink:channel, which
 * emits it as the next iteration's input.
 *
 * It is deliberately not a #GstBaseSink: a base sink holds the first frame
 * in preroll until every other sink in the pipeline has prerolled, and an
 * encoder with look-ahead (x264enc with its defaults) in a recording branch
 * never lets its sink preroll on one frame, so the loop would deadlock.
 * feedbacksink never prerolls and never blocks: it stores the frame and
 * returns. It only accepts frames with the caps feedbacksrc emits (the
 * seed's format and size) and answers caps queries with them, so elements
 * in the loop negotiate back to the seed's format; queries are never
 * forwarded round the loop.
 *
 * On EOS it tells the source and posts EOS on the bus as any sink does. The
 * frame that arrives after the source emitted its last iteration (the
 * output of the final iteration) is dropped: nothing will read it.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 feedbacksrc channel=a location=seed.png iterations=8 \
 *     ! masksampler ! cvinpaint ! feedbacksink channel=a
 * ]| The smallest loop: eight inpainting iterations, nothing recorded.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstfeedbacksink.h"

#include <gst/video/video.h>

#include <memory>
#include <string>

#include "common/properties.h"
#include "rip/core/feedback_channel.h"

GST_DEBUG_CATEGORY_STATIC(feedbacksink_debug);
#define GST_CAT_DEFAULT feedbacksink_debug

#define DEFAULT_CHANNEL "rip"

enum {
  PROP_0,
  PROP_CHANNEL,
};

struct _GstFeedbackSink {
  GstElement parent;

  /* < private > */
  GstPad* sinkpad;
  std::string* channel_name;  // guarded by the object lock
  // Set on READY->PAUSED, dropped on PAUSED->READY.
  std::shared_ptr<rip::FeedbackChannel>* channel;
  // EOS received (object lock): a bin forgets a sink's EOS message when it
  // pauses, so it is posted again on every PAUSED->PLAYING, as GstBaseSink
  // does. Cleared by FLUSH_STOP and READY->PAUSED.
  gboolean eos;
  guint32 eos_seqnum;
};

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS(GST_VIDEO_CAPS_MAKE("RGB")));

#define gst_feedback_sink_parent_class parent_class
G_DEFINE_TYPE(GstFeedbackSink, gst_feedback_sink, GST_TYPE_ELEMENT);
GST_ELEMENT_REGISTER_DEFINE(feedbacksink, "feedbacksink", GST_RANK_NONE, GST_TYPE_FEEDBACK_SINK);

static std::shared_ptr<rip::FeedbackChannel> current_channel(GstFeedbackSink* self) {
  GST_OBJECT_LOCK(self);
  auto ch = *self->channel;
  GST_OBJECT_UNLOCK(self);
  return ch;
}

static void gst_feedback_sink_set_property(
    GObject* object, guint prop_id, const GValue* value, GParamSpec* pspec) {
  GstFeedbackSink* self = GST_FEEDBACK_SINK(object);
  switch (prop_id) {
    case PROP_CHANNEL: {
      std::string v = rip_value_string(value);
      GST_OBJECT_LOCK(self);
      *self->channel_name = std::move(v);
      GST_OBJECT_UNLOCK(self);
      break;
    }
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec); break;
  }
}

static void gst_feedback_sink_get_property(
    GObject* object, guint prop_id, GValue* value, GParamSpec* pspec) {
  GstFeedbackSink* self = GST_FEEDBACK_SINK(object);
  switch (prop_id) {
    case PROP_CHANNEL:
      GST_OBJECT_LOCK(self);
      g_value_set_string(value, self->channel_name->c_str());
      GST_OBJECT_UNLOCK(self);
      break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec); break;
  }
}

static GstFlowReturn gst_feedback_sink_chain(GstPad*, GstObject* parent, GstBuffer* buf) {
  GstFeedbackSink* self = GST_FEEDBACK_SINK(parent);
  auto ch = current_channel(self);
  if (!ch) {
    gst_buffer_unref(buf);
    return GST_FLOW_FLUSHING;
  }
  switch (ch->put(
      rip::FeedbackChannel::Payload(buf, [](void* b) { gst_buffer_unref(GST_BUFFER(b)); }))) {
    case rip::FeedbackChannel::PutStatus::Dropped:
      GST_LOG_OBJECT(self, "source finished, dropping the last output");
      break;
    case rip::FeedbackChannel::PutStatus::Replaced:
      // Two frames came back for one that went out: something in the loop
      // is not one-in-one-out. The newest is kept, but say so.
      GST_WARNING_OBJECT(self,
          "channel '%s': a returned frame was replaced "
          "before feedbacksrc took it (%" G_GUINT64_FORMAT
          " so far); the loop "
          "is not in lockstep",
          ch->name().c_str(), ch->replaced_count());
      break;
    case rip::FeedbackChannel::PutStatus::Stored: break;
  }
  return GST_FLOW_OK;
}

static gboolean caps_match_channel(GstFeedbackSink* self, rip::FeedbackChannel& ch, GstCaps* caps) {
  const rip::FeedbackChannel::Payload format = ch.format();
  GstCaps* emitted = GST_CAPS(format.get());
  if (!emitted) return TRUE;
  GstVideoInfo want, got;
  if (gst_video_info_from_caps(&want, emitted) && gst_video_info_from_caps(&got, caps) &&
      GST_VIDEO_INFO_FORMAT(&want) == GST_VIDEO_INFO_FORMAT(&got) &&
      GST_VIDEO_INFO_WIDTH(&want) == GST_VIDEO_INFO_WIDTH(&got) &&
      GST_VIDEO_INFO_HEIGHT(&want) == GST_VIDEO_INFO_HEIGHT(&got))
    return TRUE;
  gchar *w = gst_caps_to_string(emitted), *g = gst_caps_to_string(caps);
  GST_ELEMENT_ERROR(self, CORE, NEGOTIATION,
      ("feedbacksink on channel '%s' receives frames that differ from what "
       "feedbacksrc emits: frames fed back must keep the seed's format "
       "and size",
          ch.name().c_str()),
      ("feedbacksrc emits %s, feedbacksink got %s; add videoconvert / "
       "videoscale before feedbacksink",
          w, g));
  g_free(w);
  g_free(g);
  return FALSE;
}

static gboolean gst_feedback_sink_event(GstPad* pad, GstObject* parent, GstEvent* event) {
  GstFeedbackSink* self = GST_FEEDBACK_SINK(parent);
  auto ch = current_channel(self);
  gboolean ret = TRUE;

  switch (GST_EVENT_TYPE(event)) {
    case GST_EVENT_CAPS: {
      GstCaps* caps;
      gst_event_parse_caps(event, &caps);
      if (ch) ret = caps_match_channel(self, *ch, caps);
      break;
    }
    case GST_EVENT_EOS: {
      if (ch) ch->end_of_stream();
      GST_OBJECT_LOCK(self);
      self->eos = TRUE;
      self->eos_seqnum = gst_event_get_seqnum(event);
      GST_OBJECT_UNLOCK(self);
      // As a sink we report EOS ourselves so the bin can finish.
      GstMessage* msg = gst_message_new_eos(GST_OBJECT(self));
      gst_message_set_seqnum(msg, gst_event_get_seqnum(event));
      gst_element_post_message(GST_ELEMENT(self), msg);
      break;
    }
    case GST_EVENT_FLUSH_START:
    case GST_EVENT_FLUSH_STOP:
      if (GST_EVENT_TYPE(event) == GST_EVENT_FLUSH_STOP) {
        GST_OBJECT_LOCK(self);
        self->eos = FALSE;
        GST_OBJECT_UNLOCK(self);
      }
      if (ch && GST_EVENT_TYPE(event) == GST_EVENT_FLUSH_STOP)
        ch->flush_stop();
      else if (ch)
        ch->flush();
      break;
    default: break;
  }
  gst_event_unref(event);
  (void) pad;
  return ret;
}

static gboolean gst_feedback_sink_query(GstPad* pad, GstObject* parent, GstQuery* query) {
  GstFeedbackSink* self = GST_FEEDBACK_SINK(parent);
  auto ch = current_channel(self);

  switch (GST_QUERY_TYPE(query)) {
    case GST_QUERY_CAPS: {
      GstCaps *filter, *caps = nullptr;
      gst_query_parse_caps(query, &filter);
      if (ch) {
        const rip::FeedbackChannel::Payload format = ch->format();
        if (format) caps = gst_caps_ref(GST_CAPS(format.get()));
      }
      if (caps) {
        // The source's framerate is informative; a loop element that
        // changes timestamps may still feed back.
        caps = gst_caps_make_writable(caps);
        gst_caps_set_features_simple(caps, NULL);
        for (guint i = 0; i < gst_caps_get_size(caps); i++)
          gst_structure_remove_field(gst_caps_get_structure(caps, i), "framerate");
        // Preferred first, but anything after it: a loop that cannot give
        // the seed's size back then gets our clear CAPS-event error instead
        // of a bare "not-negotiated".
        caps = gst_caps_merge(caps, gst_pad_get_pad_template_caps(pad));
      } else {
        caps = gst_pad_get_pad_template_caps(pad);
      }
      if (filter) {
        GstCaps* tmp = gst_caps_intersect_full(filter, caps, GST_CAPS_INTERSECT_FIRST);
        gst_caps_unref(caps);
        caps = tmp;
      }
      gst_query_set_caps_result(query, caps);
      gst_caps_unref(caps);
      return TRUE;
    }
    case GST_QUERY_ACCEPT_CAPS: {
      GstCaps* caps;
      gst_query_parse_accept_caps(query, &caps);
      GstCaps* allowed = gst_pad_query_caps(pad, NULL);
      gst_query_set_accept_caps_result(query, gst_caps_can_intersect(caps, allowed));
      gst_caps_unref(allowed);
      return TRUE;
    }
    default:
      // Never forward: there is nothing linked behind us, and forwarding
      // to the source side would rebuild the query ring.
      return gst_pad_query_default(pad, parent, query);
  }
}

static GstStateChangeReturn gst_feedback_sink_change_state(
    GstElement* element, GstStateChange transition) {
  GstFeedbackSink* self = GST_FEEDBACK_SINK(element);

  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED) {
    GST_OBJECT_LOCK(self);
    std::string name = *self->channel_name;
    GST_OBJECT_UNLOCK(self);
    if (name.empty()) {
      GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS, ("feedbacksink needs a channel name"),
          ("set channel to the same name as the feedbacksrc's channel"));
      return GST_STATE_CHANGE_FAILURE;
    }
    auto ch = rip::FeedbackChannel::get(name);
    ch->attach_sink();
    GST_OBJECT_LOCK(self);
    *self->channel = ch;
    self->eos = FALSE;
    GST_OBJECT_UNLOCK(self);
  }

  GstStateChangeReturn ret = GST_ELEMENT_CLASS(parent_class)->change_state(element, transition);
  if (ret == GST_STATE_CHANGE_FAILURE) return ret;

  if (transition == GST_STATE_CHANGE_PAUSED_TO_PLAYING) {
    GST_OBJECT_LOCK(self);
    const gboolean eos = self->eos;
    const guint32 seqnum = self->eos_seqnum;
    GST_OBJECT_UNLOCK(self);
    if (eos) {
      GstMessage* msg = gst_message_new_eos(GST_OBJECT(self));
      gst_message_set_seqnum(msg, seqnum);
      gst_element_post_message(element, msg);
    }
  }
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) {
    GST_OBJECT_LOCK(self);
    auto ch = *self->channel;
    self->channel->reset();
    GST_OBJECT_UNLOCK(self);
    if (ch) ch->detach_sink();
  }
  return ret;
}

static void gst_feedback_sink_finalize(GObject* object) {
  GstFeedbackSink* self = GST_FEEDBACK_SINK(object);
  delete self->channel;
  delete self->channel_name;
  G_OBJECT_CLASS(parent_class)->finalize(object);
}

static void gst_feedback_sink_class_init(GstFeedbackSinkClass* klass) {
  GObjectClass* gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass* element_class = GST_ELEMENT_CLASS(klass);

  GST_DEBUG_CATEGORY_INIT(feedbacksink_debug, "feedbacksink", 0, "recursive-inpainting loop sink");

  gobject_class->set_property = gst_feedback_sink_set_property;
  gobject_class->get_property = gst_feedback_sink_get_property;
  gobject_class->finalize = gst_feedback_sink_finalize;

  g_object_class_install_property(gobject_class, PROP_CHANNEL,
      g_param_spec_string("channel", "Channel",
          "Name of the loop: the feedbacksrc with the same channel emits "
          "the frames this element receives",
          DEFAULT_CHANNEL,
          (GParamFlags) (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));

  gst_element_class_set_static_metadata(element_class, "Feedback loop sink", "Sink/Video",
      "Hands every frame it receives to the feedbacksrc on the same channel "
      "as the next iteration's input; never prerolls or blocks",
      "gst-rip developers");
  gst_element_class_add_static_pad_template(element_class, &sink_template);
  element_class->change_state = GST_DEBUG_FUNCPTR(gst_feedback_sink_change_state);
}

static void gst_feedback_sink_init(GstFeedbackSink* self) {
  self->channel_name = new std::string(DEFAULT_CHANNEL);
  self->channel = new std::shared_ptr<rip::FeedbackChannel>();
  self->eos = FALSE;
  self->eos_seqnum = 0;
  self->sinkpad = gst_pad_new_from_static_template(&sink_template, "sink");
  gst_pad_set_chain_function(self->sinkpad, GST_DEBUG_FUNCPTR(gst_feedback_sink_chain));
  gst_pad_set_event_function(self->sinkpad, GST_DEBUG_FUNCPTR(gst_feedback_sink_event));
  gst_pad_set_query_function(self->sinkpad, GST_DEBUG_FUNCPTR(gst_feedback_sink_query));
  gst_element_add_pad(GST_ELEMENT(self), self->sinkpad);
  GST_OBJECT_FLAG_SET(self, GST_ELEMENT_FLAG_SINK);
}
